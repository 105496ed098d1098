"""Is a recording whole? One check, used by everything that reads a cassette.

Replay, ``--record-mode once``, ``harness cassettes status`` and ``prune`` all ask
:func:`check_recording` and act on the one answer, so a recording that replay refuses is the
one ``once`` records again and the one ``status`` lists as *damaged*, with the same reason.

A recording is **damaged** when any of these fails (the first that fails is the reason):

* the file holds something: an empty (0-byte) file is damaged, not "no recording";
* it is JSON, and a vcrpy cassette (an ``interactions`` list of request/response pairs);
* vcrpy's own ``version`` field is the one this vcrpy writes;
* the harness ``format`` is one this reader knows. An older one still replays (and
  ``harness cassettes migrate`` rewrites it); a newer one is refused as *recorded by a newer
  harness*, and never overwritten by ``once``: this harness could not tell what it would lose;
* ``complete`` is true (the writer sets it last, on a file written whole);
* it holds as many interactions as its metadata says it recorded;
* every streamed reply ends with the protocol's last event (``data: [DONE]``,
  ``response.completed``…) — the very rule the recorder applies before it stores a stream
  (:func:`harness.engine.cassette.streaming.has_last_event`);
* every JSON reply body parses as JSON (a client would fail on it far from the file), unless
  the server sent it broken: the recorder notes those (:func:`malformed_replies`), and replay
  gives the flow the same broken reply.

A recording with no interaction is not damaged here (a flow that calls no model records
none); whether that is *empty* depends on the flow, and a caller that knows may add
:data:`EMPTY` as one more :class:`Damage` reason through :meth:`RecordingCheck.with_damage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
from vcr.serialize import CASSETTE_FORMAT_VERSION as VCR_VERSION

from harness.core.json_bodies import loads
from harness.engine.cassette.streaming import has_last_event

__all__ = ["CASSETTE_FORMAT", "Damage", "RecordingCheck", "check_recording", "check_parsed", "recording_format", "malformed_replies",
           "NEWER", "EMPTY", "VCR_VERSION"]

#: 1: branch paths named after coroutines (``0/preserve_tool_task_cancellation#1``);
#: 2: branch paths from the task's own structure (``0/1``, ``0/draft``), see harness.core.context.
CASSETTE_FORMAT = 2

#: The :attr:`Damage.kind` of a recording this harness is too old to read (never re-recorded).
NEWER = "newer"
#: The kind a caller that knows the flow calls a model gives a recording holding no call.
EMPTY = "empty"


def recording_format(meta: dict[str, Any]) -> int:
    """The format of a recording from its harness metadata (files without one are format 1)."""
    try:
        return int(meta.get("format") or 1)
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True)
class Damage:
    """Why a recording cannot be replayed: a short ``kind`` (for code) and a ``reason`` (for people)."""

    kind: str
    reason: str


@dataclass(frozen=True)
class RecordingCheck:
    """What :func:`check_recording` found in one recording."""

    path: Path
    #: False when there is no file at all (a *missing* unit, not a damaged one).
    exists: bool
    #: The ``metadata.harness`` of the file ({} when it has none or could not be read).
    meta: dict[str, Any] = field(default_factory=dict)
    interactions: int = 0
    damage: Damage | None = None
    #: The parsed cassette, so a reader does not parse the file twice (None if unparsable).
    data: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    #: The recorded requests' headers :attr:`data` holds (lower-case names); None: all of them.
    request_headers: frozenset[str] | None = field(default=None, repr=False, compare=False)

    @property
    def intact(self) -> bool:
        return self.exists and self.damage is None

    @property
    def newer(self) -> bool:
        """Recorded by a newer harness: refused, and left alone by ``once``."""
        return self.damage is not None and self.damage.kind == NEWER

    @property
    def format(self) -> int:
        return recording_format(self.meta)

    @property
    def outdated(self) -> bool:
        """An older format this harness still replays; ``harness cassettes migrate`` rewrites it."""
        return self.intact and self.format < CASSETTE_FORMAT

    def reusable(self, identity: str | None = None) -> bool:
        """What ``once`` replays instead of recording: intact, its task did not end in an error, it
        holds calls, and (for a judge) it was made by the same ``identity``. Anything else is
        recorded again — except a newer harness's recording, which this one must not overwrite."""
        same = identity is None or self.meta.get("identity") == identity
        return self.intact and self.meta.get("outcome", "ok") != "error" and self.interactions > 0 and same

    def with_damage(self, kind: str, reason: str) -> RecordingCheck:
        """This check with one more reason (the first reason found is kept)."""
        return self if self.damage is not None else replace(self, damage=Damage(kind, reason))

    @property
    def fix(self) -> str:
        """What to do about it, in words (callers add the exact command)."""
        if self.newer:
            return ("upgrade orchestration-harness to replay it, or delete it and record it again "
                    "with --record-mode once")
        return "--record-mode once records it again (or delete it)"


def check_recording(path: Path, text: str | None) -> RecordingCheck:
    """Check the recording ``text`` read from ``path`` (None: there is no such file)."""
    path = path if isinstance(path, Path) else Path(path)
    if text is None:
        return RecordingCheck(path, exists=False)
    if not text.strip():
        return _damaged(path, "empty-file", f"unreadable: the file is empty ({len(text.encode())} bytes)")
    try:
        data = loads(text)  # msgspec's parse, json's result and errors (harness.core.json_bodies)
    except ValueError as exc:
        return _damaged(path, "not-json", f"unreadable: not valid JSON ({exc}); the file was cut short or edited")
    return check_parsed(path, data)


def check_parsed(path: Path, data: Any, request_headers: frozenset[str] | None = None) -> RecordingCheck:
    """:func:`check_recording` of a recording already parsed (``data``: the file's JSON).

    ``request_headers``: the recorded requests' headers ``data`` holds (lower-case names), when the
    parser left the others out (:mod:`harness.engine.cassette.replay_parse`); None: all of them.
    No check reads a request's headers, so the answer is the same either way.
    """
    # A Path made of a Path is parsed again: 30 k instructions for a recording's (callgrind; issue 25).
    path = path if isinstance(path, Path) else Path(path)
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        return _damaged(path, "not-a-cassette", "unreadable: not a vcrpy cassette (it has no list of interactions)")
    metadata = data.get("metadata")
    meta = dict(metadata.get("harness") or {}) if isinstance(metadata, dict) else {}
    found = RecordingCheck(path, exists=True, meta=meta, interactions=len(data["interactions"]), data=data,
                           request_headers=request_headers)
    damage = _versions(data, meta) or _completeness(data, meta) or _bodies(data["interactions"], meta)
    return replace(found, damage=damage) if damage else found


def _damaged(path: Path, kind: str, reason: str) -> RecordingCheck:
    return RecordingCheck(path, exists=True, damage=Damage(kind, reason))


def _versions(data: dict[str, Any], meta: dict[str, Any]) -> Damage | None:
    """vcrpy's cassette version and the harness's format, both ones this reader knows."""
    version = data.get("version")
    if version != VCR_VERSION:
        if isinstance(version, int) and version > VCR_VERSION:
            return Damage(NEWER, f"recorded by a newer harness: vcrpy cassette version {version}, this harness's "
                                 f"vcrpy reads version {VCR_VERSION}")
        return Damage("unknown-version", f"vcrpy cassette version {version!r} is not one vcrpy writes "
                                         f"(it writes {VCR_VERSION})")
    raw = meta.get("format", 1)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        return Damage("unknown-version", f"harness format {raw!r} is not a format version (1 to {CASSETTE_FORMAT})")
    if raw > CASSETTE_FORMAT:
        return Damage(NEWER, f"recorded by a newer harness: cassette format {raw}, this harness reads formats "
                             f"1 to {CASSETTE_FORMAT}")
    return None


def _completeness(data: dict[str, Any], meta: dict[str, Any]) -> Damage | None:
    """Written whole, and holding every interaction its metadata counted."""
    if meta.get("complete") is not True:
        return Damage("incomplete", f"its metadata says complete: {json.dumps(meta.get('complete'))} "
                                    "(it was not written whole)")
    held, said = len(data["interactions"]), meta.get("interactions")
    if said is not None and said != held:
        return Damage("count", f"it holds {held} interaction(s) but its metadata says {said} were recorded")
    for number, interaction in enumerate(data["interactions"], 1):
        if not (isinstance(interaction, dict) and isinstance(interaction.get("request"), dict)
                and isinstance(interaction.get("response"), dict)):
            return Damage("not-a-cassette", f"unreadable: interaction {number} is not a request/response pair")
    return None


_CONTENT_HEADERS = frozenset({"content-type", "content-encoding"})


def _content_headers(headers: Any) -> dict[str, str]:
    """A recorded reply's content type and encoding (vcrpy stores lists of values), in one pass over
    its headers; a name absent is absent."""
    found: dict[str, str] = {}
    if isinstance(headers, dict):
        for key, value in headers.items():
            name = str(key).lower()
            if name in _CONTENT_HEADERS and name not in found:
                found[name] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return found


def _reply(response: dict[str, Any]) -> tuple[str, str] | None:
    """(content type, body text) of a recorded reply; None for bytes vcrpy kept as they came
    (compressed, binary), which nothing here reads."""
    body = response.get("body")
    text = body.get("string") if isinstance(body, dict) else None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    headers = _content_headers(response.get("headers"))
    if headers.get("content-encoding", "") not in ("", "identity"):
        return None
    return headers.get("content-type", ""), text


class _Object(msgspec.Struct):
    """Any JSON object: decoding a text into it checks all of it and builds none of its members."""


_checker = msgspec.json.Decoder(_Object)


def _parses(text: str) -> str | None:
    """None when ``text`` is JSON, else why not.

    A reply body is checked by msgspec without being built (an object's members are checked and
    skipped): a bench/replay_overhead.py unit's five reply bodies took 77 k instructions to parse
    and take 30 k to check (callgrind, 600 less 200 units; issue 25). What that refuses (not an
    object, or what json reads and msgspec does not: ``NaN``, a lone surrogate) is parsed by
    :func:`loads`, whose answer and error are json's.
    """
    try:
        _checker.decode(text)
        return None
    except msgspec.DecodeError:  # msgspec.ValidationError too: not an object
        pass
    try:
        loads(text)
    except ValueError as exc:
        return str(exc)
    return None


def malformed_replies(responses: list[dict[str, Any]]) -> list[int]:
    """The interactions (1-based) whose JSON reply body did not parse *when it was recorded*.

    A server can answer with a broken body (a proxy's error page, a model server's bug), and a
    replay must give the flow the same: the recorder stores these numbers in the metadata, so
    the check tells such a reply from one damaged since.
    """
    found = []
    for number, response in enumerate(responses, 1):
        reply = _reply(response)
        if reply is not None and "json" in reply[0] and reply[1] and not reply[1].isspace() \
                and _parses(reply[1]) is not None:
            found.append(number)
    return found


def _bodies(interactions: list[dict[str, Any]], meta: dict[str, Any]) -> Damage | None:
    """Each reply body as its client will read it: streams end with their last event, and JSON
    parses (unless it was already broken when recorded, see :func:`malformed_replies`)."""
    recorded_broken = set(meta.get("malformed_replies") or [])
    for number, interaction in enumerate(interactions, 1):
        reply = _reply(interaction["response"])
        if reply is None:
            continue
        content_type, body = reply
        if "text/event-stream" in content_type:
            if not has_last_event(body.encode()):
                return Damage("torn-stream", f"the streamed reply of interaction {number} ends before the protocol's "
                                             "last event ([DONE] / response.completed): it was cut short")
        elif "json" in content_type and body and not body.isspace() and number not in recorded_broken:
            problem = _parses(body)
            if problem is not None:
                return Damage("bad-body", f"the reply body of interaction {number} is not valid JSON ({problem}); "
                                          "it was when recorded")
    return None
