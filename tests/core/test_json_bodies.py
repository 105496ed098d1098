"""Model-call bodies parse to exactly what json.loads gives, errors included."""

from __future__ import annotations

import json

import pytest

from harness.core.json_bodies import loads, loads_or_none

BODIES = [
    b'{"model":"m","messages":[{"role":"user","content":"caf\\u00e9 \\u2603"}],"temperature":0.0}',
    b'{"a": 1, "a": 2}',  # a repeated key: the last wins
    b'[1, 2.5, -0.0, 1e-7, 123456789012345678901234567890, true, null]',
    b'{"x": NaN, "y": Infinity}',  # json accepts these, msgspec does not
    b'{"big": 1e400}',  # beyond a double: json gives inf
    '{"text": "a str body"}',
    b'\xef\xbb\xbf{"bom": true}',  # json decodes a byte-order mark off bytes
]


@pytest.mark.parametrize("body", BODIES)
def test_the_result_is_json_s(body: bytes | str) -> None:
    expected = json.loads(body)
    got = loads(body)
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN: compared as the text json writes
    assert [type(v) for v in (got.values() if isinstance(got, dict) else got)] == \
        [type(v) for v in (expected.values() if isinstance(expected, dict) else expected)]


@pytest.mark.parametrize("body", [b"", b"not json", b'{"cut": ', b"{} trailing"])
def test_what_json_refuses_is_refused_with_json_s_error(body: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(body)
    with pytest.raises(ValueError) as theirs:
        json.loads(body)
    assert str(ours.value) == str(theirs.value)
    assert loads_or_none(body) is None
