"""IndexedCassette: each live request gets the recorded answer its key and body ask for, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from vcr.request import Request
from vcr.serializers import jsonserializer

from harness.core.context import RequestContext
from harness.engine.cassette.indexed import KEY_HEADER, IndexedCassette
from harness.engine.cassette.miss import CassetteMiss
from harness.engine.cassette.store import CassetteStore, RecordMode

UNIT = RequestContext("demo", "ask@v1", "t1", 1)
URL = "http://127.0.0.1:9/v1/chat/completions"
BODY = {"model": "stub", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0}


def _request(key: str, body: bytes) -> Request:
    return Request("POST", URL, body, {KEY_HEADER: key, "content-type": "application/json"})


def _reply(text: str) -> dict[str, Any]:
    return {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
            "body": {"string": json.dumps({"answer": text})}}


def _replaying(tmp_path: Path, *answers: tuple[str, str]) -> IndexedCassette:
    """A cassette replaying one recording of UNIT: (call key suffix, answer) per interaction, same body."""
    recorder = CassetteStore(tmp_path, RecordMode.ONCE)
    recorder.write_recording(UNIT, [(_request(f"{UNIT.prefix}|{call}", json.dumps(BODY).encode()), _reply(text))
                                    for call, text in answers], {"outcome": "ok"})
    store = CassetteStore(tmp_path, RecordMode.NONE)
    store.begin(UNIT)
    return IndexedCassette(str(tmp_path / ".run"), store=store, serializer=jsonserializer)


def _play(cassette: IndexedCassette, request: Request) -> str:
    assert cassette.can_play_response_for(request)
    return str(json.loads(cassette.play_response(request)["body"]["string"])["answer"])


@pytest.mark.parametrize("sent", [json.dumps(BODY), json.dumps(dict(reversed(BODY.items())), indent=1),
                                  json.dumps(BODY | {"prompt_cache_key": "run:7"})],
                         ids=["same-bytes", "other-order-and-spacing", "volatile-field"])
def test_a_body_equal_as_data_gets_its_recorded_answer(tmp_path: Path, sent: str) -> None:
    cassette = _replaying(tmp_path, ("b0|c1", "first"))
    assert _play(cassette, _request(f"{UNIT.prefix}|b0|c1", sent.encode())) == "first"


def test_a_body_that_differs_as_data_misses(tmp_path: Path) -> None:
    cassette = _replaying(tmp_path, ("b0|c1", "first"))
    with pytest.raises(CassetteMiss, match="differs from the one recorded"):
        cassette.can_play_response_for(_request(f"{UNIT.prefix}|b0|c1", json.dumps(BODY | {"temperature": 1}).encode()))


def test_two_calls_that_found_the_same_answer_get_one_each(tmp_path: Path) -> None:
    """Threads can both be told an answer is there before either plays it: each answer is played once."""
    cassette = _replaying(tmp_path, ("b0|c1", "first"), ("b0|c1", "second"))
    one, two = (_request(f"{UNIT.prefix}|b0|c1", json.dumps(BODY).encode()) for _ in range(2))
    assert cassette.can_play_response_for(one) and cassette.can_play_response_for(two)
    assert [_answer(cassette.play_response(one)), _answer(cassette.play_response(two))] == ["first", "second"]
    three = _request(f"{UNIT.prefix}|b0|c1", json.dumps(BODY).encode())
    with pytest.raises(CassetteMiss):
        cassette.can_play_response_for(three)


def _answer(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"]["string"])["answer"])


def test_an_answer_found_for_one_request_is_never_played_for_another(tmp_path: Path) -> None:
    """The answer kept between can_play_response_for and play_response is keyed by the request's id:
    a later request that happens to get the same id (the first one gone) is looked up afresh."""
    cassette = _replaying(tmp_path, ("b0|c1", "first"), ("b0|c2", "second"))
    asked = _request(f"{UNIT.prefix}|b0|c1", json.dumps(BODY).encode())
    assert cassette.can_play_response_for(asked)
    later = _request(f"{UNIT.prefix}|b0|c2", json.dumps(BODY).encode())
    cassette._found[id(later)] = cassette._found.pop(id(asked))  # as if `later` reused the id of `asked`
    assert _answer(cassette.play_response(later)) == "second", "its own answer, not the one found for `asked`"
