"""A recording parsed for replay: each recorded request keeps only its key header, as the file is parsed.

A replay reads one header of a recorded request, its key (``x-harness-key``); the other headers
(17 in all for an ``openai`` call) were parsed into dicts, lists and strings, then copied away
(:func:`harness.engine.cassette.files.parse_checked`'s ``keep_headers``). :func:`parse_keyed`
decodes the file with a msgspec schema under which those headers are skipped by the parser and
never built: per unit of bench/replay_overhead.py (5 calls, 18 KB), parsing and leaving them out
took 470 k instructions that way and takes 275 k this way (callgrind, ``PYTHONHASHSEED=0``, 600
units less 200, issue 25).

The result is exactly what parsing the file and keeping the key header gives (plain dicts and
lists, as :func:`harness.engine.cassette.integrity.check_parsed` and vcrpy read them), or None
for anything out of the ordinary: not JSON as msgspec reads it, not shaped like a recording
(no list of interactions, a request or response that is not an object), a request with a field
other than vcrpy's four, or one without its key under its lower-case name. The caller then
reads the file the general way, so a damaged recording is refused with the same reason as ever.
"""

from __future__ import annotations

from typing import Any

import msgspec

from harness.engine.cassette.indexed import KEY_HEADER

__all__ = ["KEY_ONLY", "parse_keyed"]

#: The request headers a replay keeps (lower-case names): the key alone.
KEY_ONLY = frozenset({KEY_HEADER})


class _KeyHeader(msgspec.Struct):
    """A recorded request's headers: the key, the others skipped unbuilt."""

    key: Any = msgspec.field(name=KEY_HEADER, default=msgspec.UNSET)


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """vcrpy's four request fields, all required (anything else: the general reader says what is wrong)."""

    method: Any
    uri: Any
    body: Any
    headers: _KeyHeader


class _Interaction(msgspec.Struct):
    request: _Request
    response: dict[str, Any]


class _Recording(msgspec.Struct):
    interactions: list[_Interaction]
    version: Any = msgspec.UNSET
    metadata: Any = msgspec.UNSET


_decoder = msgspec.json.Decoder(_Recording)


def parse_keyed(raw: bytes | str | None) -> dict[str, Any] | None:
    """The recording ``raw`` parsed with each request's headers reduced to its key; None when it must be
    read the general way (see the module's docstring)."""
    if not raw:
        return None
    try:
        recording = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    interactions = []
    for interaction in recording.interactions:
        request = interaction.request
        key = request.headers.key
        if key is msgspec.UNSET:
            return None
        interactions.append({
            "request": {"method": request.method, "uri": request.uri, "body": request.body,
                        "headers": {KEY_HEADER: key}},
            "response": interaction.response,
        })
    data: dict[str, Any] = {"interactions": interactions}
    if recording.version is not msgspec.UNSET:
        data["version"] = recording.version
    if recording.metadata is not msgspec.UNSET:
        data["metadata"] = recording.metadata
    return data
