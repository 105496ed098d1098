"""Cassette files: where a unit's recording lives, how it is read and written, what format it
is in, and whether it is whole (what ``once`` keeps)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from vcr.persisters.filesystem import FilesystemPersister
from vcr.request import Request
from vcr.serialize import deserialize
from vcr.serializers import jsonserializer

from harness.core.atomic import write_text_atomic
from harness.core.context import RequestContext
from harness.core.names import slugify
from harness.engine.cassette.integrity import (
    CASSETTE_FORMAT,
    Damage,
    RecordingCheck,
    check_parsed,
    check_recording,
    recording_format,
)
from harness.engine.cassette.replay_parse import KEY_ONLY, parse_keyed
from harness.engine.cassette.storage import LocalFiles, RecordingFiles

__all__ = ["CASSETTE_FORMAT", "cassette_path", "read_cassette", "parse_cassette", "recording_format",
           "write_cassette_file", "is_whole", "inspect_recording", "parse_checked"]


def cassette_path(root: Path, request: RequestContext) -> Path:
    """Where a unit's recording lives. Judges (``judge/<name>``) and simulated customers
    (``user/<name>``) get trees of their own: re-judging never touches flows."""
    name = slugify(request.task_id) + (f".e{request.epoch}" if request.epoch > 1 else "") + ".json"
    return _folder(root, request.suite, request.channel, request.variant) / name


@functools.lru_cache(maxsize=256)
def _folder(root: Path, suite: str, channel: str, variant: str) -> Path:
    """A variant's cassette folder: the same for every unit of it, so built once (slugs and joins were
    7 of the 160 us a replayed unit's recording cost to open and close; timeit, busy machine)."""
    base = root / slugify(suite)
    if channel != "flow":
        kind, _, own = channel.partition("/")
        base = base / ("_users" if kind == "user" else "_judges") / slugify(own or kind)
    return base / slugify(variant)


def read_cassette(path: Path) -> tuple[list[Request], list[dict[str, Any]], dict[str, Any]]:
    """A cassette file's requests, responses and harness metadata."""
    return _parsed(FilesystemPersister.load_cassette(path, jsonserializer))


def parse_cassette(text: str) -> tuple[list[Request], list[dict[str, Any]], dict[str, Any]]:
    """:func:`read_cassette` of a recording's text (one shipped with a unit, read nowhere else)."""
    return _parsed(deserialize(text, jsonserializer))


def _parsed(loaded: Any) -> tuple[list[Request], list[dict[str, Any]], dict[str, Any]]:
    requests, responses = loaded[0], loaded[1]
    metadata = loaded[2] if len(loaded) > 2 else {}
    return list(requests), list(responses), dict(metadata or {}).get("harness", {})


def write_cassette_file(path: Path, text: str) -> None:
    """Write one cassette file atomically (a reader sees the old file or the new, never half)."""
    write_text_atomic(path, text)


class _AlreadyParsed:
    """A vcrpy serializer for a cassette :func:`check_recording` has parsed already.

    Parsing is most of the cost of loading a recording: over the 1,059 demo cassettes (2,789
    calls) the check alone took as long as vcrpy's load (588 vs 578 ms), so parsing the text twice
    would add about 0.2 ms per replayed call; reusing the check's parse adds about 0.04 ms (the
    reply bodies it parses). ``bench/cassette_check.py`` prints these.
    """

    @staticmethod
    def deserialize(data: Any) -> Any:
        return data


def parse_checked(check: RecordingCheck, keep_headers: frozenset[str] | None = None,
                  ) -> tuple[list[Request], list[dict[str, Any]], dict[str, Any]]:
    """:func:`read_cassette` of a recording that passed :func:`check_recording`, from its parsed data.

    ``keep_headers`` (lower-case names): the recorded requests' headers to keep, the others left
    out of the requests vcrpy builds (the file is not changed). A replay reads only the request
    key of a recorded request, and vcrpy's header dict took 21 of the 26 us a recorded request
    cost to load (7.8 us with the key alone, plus 2.9 to leave the rest out: timeit of a
    bench/replay_overhead.py recording, 17 headers; issue 25).
    """
    if check.data is None:
        raise ValueError(f"{check.path} was not parsed")
    if check.request_headers is not None and check.request_headers != keep_headers:
        raise RuntimeError(f"{check.path} was parsed keeping the request headers {sorted(check.request_headers)}, "
                           f"not {sorted(keep_headers) if keep_headers is not None else 'all'}")
    data = check.data
    if keep_headers is not None and check.request_headers is None:  # else replay_parse kept them as it parsed
        data = _keeping_headers(data, keep_headers)
    requests, responses, _ = _parsed(deserialize(data, _AlreadyParsed))
    return requests, responses, check.meta


def _keeping_headers(data: Any, keep: frozenset[str]) -> Any:
    """A parsed cassette whose requests hold only the headers named in ``keep`` (a copy)."""
    interactions = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(interactions, list):
        return data  # vcrpy says what is wrong with it
    kept = []
    for interaction in interactions:
        request = interaction.get("request") if isinstance(interaction, dict) else None
        if isinstance(request, dict) and isinstance(request.get("headers"), dict):
            headers = {k: v for k, v in request["headers"].items() if k.lower() in keep}
            interaction = {**interaction, "request": {**request, "headers": headers}}
        kept.append(interaction)
    return {**data, "interactions": kept}


def inspect_recording(path: Path, files: RecordingFiles | None = None,
                      request_headers: frozenset[str] | None = None) -> RecordingCheck:
    """Read the recording at ``path`` and check it (:func:`check_recording`); an unreadable file
    (permissions, a folder in its place) is damaged, with the OS's reason.

    ``request_headers``: the recorded requests' headers the caller reads (lower-case names; None:
    all). A replay reads the key alone (:data:`~harness.engine.cassette.replay_parse.KEY_ONLY`): the
    file is then parsed without the others where it can be, else the general way; the check's answer
    is the same, and :func:`parse_checked` is then asked for the same headers.
    """
    files = files or LocalFiles()
    try:
        if request_headers == KEY_ONLY:
            data = parse_keyed(files.read_raw(path))
            if data is not None:
                return check_parsed(path, data, KEY_ONLY)
        text = files.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        return RecordingCheck(Path(path), exists=True, damage=Damage("unreadable", f"unreadable: {exc}"))
    return check_recording(path, text)


def is_whole(path: Path, identity: str | None = None, files: RecordingFiles | None = None) -> bool:
    """A recording ``once`` keeps (:meth:`RecordingCheck.reusable`): intact, its task did not end in an
    error, it holds calls, made by the same ``identity`` (a judge's rubric, labels, model) when one is
    given. Anything else (damaged, failed, empty, another judge) is recorded again: a flow fixed after
    it failed must not replay its failure, nor miss every call of a recording that has none."""
    return inspect_recording(path, files).reusable(identity)
