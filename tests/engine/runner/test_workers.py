"""Worker processes: the same run folder as one process, spread over forked workers."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
from pathlib import Path

import pytest

from harness.core.results import RunFolder, RunTotals
from harness.engine.workers import WorkerFailed
from harness.testing.stub_server import StubServer

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


async def which_process(input, ctx):
    """Answers with the id of the process that ran it (slowly, so every worker gets units)."""
    await asyncio.sleep(0.05)
    return {"pid": os.getpid(), "worker": multiprocessing.current_process().name}


def crash_in_a_worker_on_t003(input, ctx):
    """Kills the worker process running task t003, as an out-of-memory kill would."""
    if ctx.task.id == "t003" and multiprocessing.current_process().name != "MainProcess":
        os._exit(9)
    return "ok"


def test_rows_come_from_several_worker_processes(make_suite, run):
    result = run(make_suite(flow=which_process, n=24), concurrency=2, workers=2)
    rows = list(result.folder.rows())
    assert len(rows) == 24 and result.errors == 0
    assert {row.output["worker"] for row in rows} == {"harness-worker-1", "harness-worker-2"}
    assert os.getpid() not in {row.output["pid"] for row in rows}
    assert result.manifest.workers == 2
    assert result.manifest.totals["rows"] == 24 and result.manifest.status == "complete"


def test_workers_never_outnumber_the_units(make_suite, run):
    result = run(make_suite(flow=which_process, n=1), workers=4)
    assert result.manifest.workers == 1
    assert next(result.folder.rows()).output["pid"] == os.getpid()


def test_a_budget_spent_in_one_worker_stops_them_all(make_suite, run):
    with StubServer(latency=0.05) as slow:  # replies slow enough that 40 tasks take a second
        result = run(make_suite(n=40), slow.base_url, concurrency=2, workers=2, max_tokens=60)
    assert 1 <= result.rows < 40
    assert result.manifest.status == "budget_exceeded"
    assert any("token budget" in note for note in result.manifest.notes)


def test_a_killed_worker_fails_the_run_but_keeps_every_finished_row(make_suite, run, tmp_path: Path):
    suite = make_suite(flow=crash_in_a_worker_on_t003, n=8)
    with pytest.raises(WorkerFailed, match=r"harness-worker-\d exited with code 9.*--resume"):
        run(suite, concurrency=1, workers=2)
    folder = RunFolder.open(next((tmp_path / "runs").iterdir()))
    finished = {row.task_id for row in folder.rows()}
    assert "t003" not in finished and len(finished) >= 4, "the other worker went on to the end"
    assert folder.manifest().status == "failed"

    resumed = run(suite, resume=str(folder.path))  # one process: t003 runs (and passes) here
    assert {row.task_id for row in resumed.folder.rows()} == {f"t{i:03d}" for i in range(8)}
    assert resumed.manifest.status == "complete"


def test_a_negative_worker_count_is_refused_before_a_run_folder_exists(make_suite, run, tmp_path: Path):
    with pytest.raises(ValueError, match=r"workers must be a whole number from 0 to 1024 \(0 means one per CPU core\); got -1"):
        run(make_suite(flow=which_process, n=2), workers=-1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_totals_travel_as_a_tuple_of_every_field_in_order() -> None:
    """Workers send ``as_tuple()`` and the parent rebuilds ``RunTotals(*tally)``: a field left out
    of the tuple, or two swapped, would corrupt the run's totals."""
    totals = RunTotals(rows=1, errors=2, grader_errors=3, passed=4, input_tokens=5, output_tokens=6,
                       cost_usd=7.5, model_calls=8)
    assert totals.as_tuple() == dataclasses.astuple(totals)
    assert RunTotals(*totals.as_tuple()) == totals


def test_merging_totals_adds_every_field() -> None:
    """``merge`` names each field (it runs once per row): a field it left out would stay at zero."""
    ones = RunTotals(*(1 for _ in dataclasses.fields(RunTotals)))
    merged = RunTotals()
    merged.merge(ones)
    merged.merge(ones)
    assert dataclasses.astuple(merged) == tuple(2 for _ in dataclasses.fields(RunTotals))
