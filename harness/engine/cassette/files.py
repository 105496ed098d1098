"""Cassette files: where a unit's recording lives, how it is read and written, what format it
is in, and whether it is whole (what ``once`` keeps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vcr.persisters.filesystem import FilesystemPersister
from vcr.request import Request
from vcr.serialize import deserialize
from vcr.serializers import jsonserializer

from harness.core.atomic import write_text_atomic
from harness.core.context import RequestContext
from harness.core.names import slugify
from harness.engine.cassette.storage import LocalFiles, RecordingFiles

__all__ = ["CASSETTE_FORMAT", "cassette_path", "read_cassette", "parse_cassette", "recording_format",
           "write_cassette_file", "is_whole"]

#: 1: branch paths named after coroutines (``0/preserve_tool_task_cancellation#1``);
#: 2: branch paths from the task's own structure (``0/1``, ``0/draft``), see harness.core.context.
CASSETTE_FORMAT = 2


def cassette_path(root: Path, request: RequestContext) -> Path:
    """Where a unit's recording lives. Judges get their own tree: re-judging never touches flows."""
    name = slugify(request.task_id) + (f".e{request.epoch}" if request.epoch > 1 else "") + ".json"
    base = root / slugify(request.suite)
    if request.channel != "flow":
        base = base / "_judges" / slugify(request.channel.split("/", 1)[-1])
    return base / slugify(request.variant) / name


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


def recording_format(meta: dict[str, Any]) -> int:
    """The format of a recording from its harness metadata (files without one are format 1)."""
    try:
        return int(meta.get("format") or 1)
    except (TypeError, ValueError):
        return 1


def write_cassette_file(path: Path, text: str) -> None:
    """Write one cassette file atomically (a reader sees the old file or the new, never half)."""
    write_text_atomic(path, text)


def is_whole(path: Path, identity: str | None = None, files: RecordingFiles | None = None) -> bool:
    """A recording ``once`` keeps: it finished, its task did not end in an error, it holds calls,
    and it was made by the same ``identity`` (a judge's rubric, labels, model) when one is given.
    Anything else (partial, failed, empty, unreadable, another judge) is recorded again: a flow
    fixed after it failed must not replay its failure, nor miss every call of a recording that has none."""
    try:
        text = (files or LocalFiles()).read(path)
        data = json.loads(text) if text is not None else None
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    meta = (data.get("metadata") or {}).get("harness") or {}
    calls = data.get("interactions") or data.get("requests") or []
    same = identity is None or meta.get("identity") == identity
    return bool(meta.get("complete")) and meta.get("outcome", "ok") != "error" and len(calls) > 0 and same
