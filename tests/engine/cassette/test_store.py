"""CassetteStore: replay gets its recordings off the disk early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.core.context import RequestContext
from harness.engine.cassette.files import parse_checked
from harness.engine.cassette.integrity import check_recording
from harness.engine.cassette.store import CassetteStore, RecordMode, cassette_path

UNITS = [RequestContext("demo", "ask@v1", f"t{i}", epoch) for i in range(3) for epoch in (1, 2)]


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """Recordings for every unit but task t1."""
    for request in UNITS:
        if request.task_id != "t1":
            path = cassette_path(tmp_path, request)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
    return tmp_path


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="the OS has no posix_fadvise")
@pytest.mark.parametrize("mode", [RecordMode.NONE, RecordMode.ONCE])
def test_prefetch_asks_for_every_recording_a_replay_will_read(recorded: Path, mode: RecordMode) -> None:
    assert CassetteStore(recorded, mode).prefetch(UNITS) == 4, "t1 (two epochs) has no recording to read"


@pytest.mark.parametrize("mode", [RecordMode.REWRITE, RecordMode.OFF])
def test_prefetch_reads_nothing_when_nothing_is_replayed(recorded: Path, mode: RecordMode) -> None:
    assert CassetteStore(recorded, mode).prefetch(UNITS) == 0



FORMAT1 = Path(__file__).parent / "fixtures" / "format1" / "fanout" / "fanout@v1" / "cl-005.json"


def test_a_replay_loads_a_recorded_requests_key_and_leaves_the_other_headers_out() -> None:
    text = FORMAT1.read_text()
    check = check_recording(FORMAT1, text)
    whole, responses, meta = parse_checked(check)
    keyed, keyed_responses, keyed_meta = parse_checked(check, frozenset({"x-harness-key"}))
    assert len(whole) == len(keyed) > 0 and len(dict(whole[0].headers)) > 1
    for full, light in zip(whole, keyed, strict=True):
        assert dict(light.headers) == {"x-harness-key": full.headers["x-harness-key"]}
        assert (light.method, light.uri, light.body) == (full.method, full.uri, full.body)
    assert (keyed_responses, keyed_meta) == (responses, meta)
    assert all(len(i["request"]["headers"]) > 1 for i in check.data["interactions"]), "the parse itself is left whole"
