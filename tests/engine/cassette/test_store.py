"""CassetteStore: replay gets its recordings off the disk early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.core.context import RequestContext
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

