"""A replay parses a recording keeping each request's key header alone, and gets what the general reader gets.

:func:`parse_keyed` must give exactly what parsing the file and keeping the key header gives, for
every recording the project holds; for anything out of the ordinary it gives None, and the
recording is read the general way, so the integrity check's answer (damage, its reason) is the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.core.json_bodies import loads
from harness.engine.cassette.files import _keeping_headers, inspect_recording, parse_checked
from harness.engine.cassette.indexed import KEY_HEADER
from harness.engine.cassette.replay_parse import KEY_ONLY, parse_keyed
from harness.engine.cassette.storage import ShippedFiles

REPO = Path(__file__).resolve().parents[3]
RECORDINGS = sorted([*(REPO / "cassettes").rglob("*.json"), *(Path(__file__).parent / "fixtures").rglob("*.json")])


def _recording(**request_changes: Any) -> dict[str, Any]:
    request = {"method": "POST", "uri": "http://127.0.0.1:9/v1/chat/completions", "body": '{"model": "m"}',
               "headers": {"content-type": ["application/json"], KEY_HEADER: ["demo|flow|v|t0|e1|b0|c1"]}}
    request.update(request_changes)
    response = {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
                "body": {"string": '{"id": "x"}'}}
    return {"version": 1, "interactions": [{"request": request, "response": response}],
            "metadata": {"harness": {"format": 2, "complete": True, "interactions": 1}}}


def _text(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode()


def _same_load(path: Path) -> bool:
    """The fast parse is what the general reader keeps, and the check and vcrpy's load agree on it."""
    if parse_keyed(path.read_bytes()) != _keeping_headers(loads(path.read_text()), KEY_ONLY):
        return False
    keyed, general = inspect_recording(path, request_headers=KEY_ONLY), inspect_recording(path)
    if keyed.request_headers != KEY_ONLY or (keyed.damage, keyed.meta, keyed.interactions) != \
            (general.damage, general.meta, general.interactions):
        return False
    (requests, responses, meta), expected = parse_checked(keyed, KEY_ONLY), parse_checked(general, KEY_ONLY)
    return ([(r.method, r.uri, r.body, dict(r.headers)) for r in requests] ==
            [(r.method, r.uri, r.body, dict(r.headers)) for r in expected[0]] and (responses, meta) == expected[1:])


def test_every_recording_the_project_holds_parses_to_what_the_general_reader_keeps():
    assert len(RECORDINGS) > 100 and any("format1" in str(path) for path in RECORDINGS), "both formats compared"
    differ = [path for path in RECORDINGS if not _same_load(path)]
    assert not differ, differ[:3]


ODD = {
    "a request field vcrpy does not know": _text(_recording(extra=1)),
    "a request without its key": _text(_recording(headers={"content-type": ["application/json"]})),
    "the key under another case": _text(_recording(headers={"X-Harness-Key": ["demo|flow|v|t0|e1|b0|c1"]})),
    "a request without headers": _text({k: v for k, v in _recording().items() if k != "interactions"}
                                       | {"interactions": [{"request": {"method": "POST", "uri": "u", "body": ""},
                                                            "response": {}}]}),
    "headers that are not an object": _text(_recording(headers=["x"])),
    "a response that is not an object": _text(_recording() | {"interactions": [{"request": _recording()[
        "interactions"][0]["request"], "response": []}]}),
    "interactions that are not a list": _text(_recording() | {"interactions": {}}),
    "not an object": b"[1, 2]",
    "not JSON": b'{"version": 1, "interactions": [',
    "not UTF-8": _text(_recording()).replace(b'"OK"', b'"\xff"'),
    "a byte order mark": b"\xef\xbb\xbf" + _text(_recording()),
    "NaN, which json reads and msgspec does not": _text(_recording()).replace(b'"format": 2', b'"format": NaN'),
    "empty": b"",
    "blank": b"  \n",
}


@pytest.mark.parametrize("kind", list(ODD))
def test_anything_out_of_the_ordinary_is_read_the_general_way_with_the_same_answer(kind: str, tmp_path: Path):
    path = tmp_path / "t0.json"
    path.write_bytes(ODD[kind])
    assert parse_keyed(ODD[kind]) is None
    keyed, general = inspect_recording(path, request_headers=KEY_ONLY), inspect_recording(path)
    assert keyed.request_headers is None, "read the general way"
    assert (keyed.exists, keyed.damage, keyed.meta, keyed.interactions) == \
           (general.exists, general.damage, general.meta, general.interactions)


def test_a_missing_recording_is_missing_either_way(tmp_path: Path):
    check = inspect_recording(tmp_path / "none.json", request_headers=KEY_ONLY)
    assert not check.exists and check.damage is None


def test_a_recording_shipped_as_text_parses_the_same_way(tmp_path: Path):
    path, text = tmp_path / "t0.json", _text(_recording()).decode()
    files = ShippedFiles()
    files.add({str(path): text})
    check = inspect_recording(path, files, request_headers=KEY_ONLY)
    assert check.intact and check.request_headers == KEY_ONLY
    assert check.data == _keeping_headers(json.loads(text), KEY_ONLY)


def test_a_recording_parsed_with_the_key_alone_is_never_loaded_as_if_whole(tmp_path: Path):
    path = tmp_path / "t0.json"
    path.write_bytes(_text(_recording()))
    with pytest.raises(RuntimeError, match="keeping the request headers"):
        parse_checked(inspect_recording(path, request_headers=KEY_ONLY), None)
