"""kill -9 in the middle of a run loses only work in flight; --resume finishes exactly the rest."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.core.results import RunFolder
from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.testing.stub_server import StubServer

SUITE = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from harness import Suite, Variant, ModelSettings

    async def ask(input, ctx):
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "user", "content": input}], **ctx.model_kwargs())
        return reply.choices[0].message.content

    suite = Suite(name="resumable", dataset="tasks.jsonl",
                  variants=[Variant("ask@v1", flow=ask, model=ModelSettings(model="stub"))])
''')

DRIVER = textwrap.dedent('''
    import asyncio, sys
    from pathlib import Path
    from harness.engine.loader import find_suite
    from harness.engine.runner import RunOptions, run_suite
    from harness.engine.runtime import RuntimeConfig

    suite_file, runs, cassettes, base_url, mode = sys.argv[1:]
    suite = find_suite(suite_file)
    config = RuntimeConfig(base_url=base_url, cassette_dir=Path(cassettes))
    asyncio.run(run_suite(suite, RunOptions(record_mode=mode, runtime=config, runs_dir=Path(runs), concurrency=4)))
''')

N = 40


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tasks.jsonl").write_text("".join(f'{{"id": "t{i:03d}", "input": "question {i}"}}\n' for i in range(N)))
    (tmp_path / "test_resumable.py").write_text(SUITE)
    (tmp_path / "driver.py").write_text(DRIVER)
    return tmp_path


def _kill_midway(project: Path, base_url: str, mode: str) -> Path:
    runs = project / "runs"
    proc = subprocess.Popen([sys.executable, str(project / "driver.py"), str(project / "test_resumable.py"),
                             str(runs), str(project / "cassettes"), base_url, mode], cwd=project)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        results = list(runs.glob("*/results.jsonl"))
        if results and len(results[0].read_text().splitlines()) >= 10:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (folder,) = runs.iterdir()
    return folder


def _resume(project: Path, folder: Path, base_url: str, mode: str) -> None:
    suite = find_suite(project / "test_resumable.py")
    config = RuntimeConfig(base_url=base_url, cassette_dir=project / "cassettes")
    asyncio.run(run_suite(suite, RunOptions(record_mode=mode, runtime=config, runs_dir=project / "runs",
                                            resume=folder.name, concurrency=4)))


def test_kill_9_then_resume_equals_an_uninterrupted_run(project: Path):
    with StubServer(latency=0.05) as stub:
        folder = _kill_midway(project, stub.base_url, "off")
        written = len(list(RunFolder(folder).rows()))
        assert 10 <= written < N, "the kill must land mid-run"
        _resume(project, folder, stub.base_url, "off")
        rows = list(RunFolder(folder).rows())
        assert sorted(r.task_id for r in rows) == [f"t{i:03d}" for i in range(N)], "no duplicates, none missing"
        assert stub.stats().hits <= N + 4, "only the rows in flight at the kill ran twice"
        assert all(r.output == f"stub reply to: question {int(r.task_id[1:])}" for r in rows)
        assert RunFolder(folder).manifest().status == "complete"


def test_resume_reruns_error_rows(make_suite, run, stub, tmp_path: Path):
    calls = {"n": 0}

    async def fails_once(input, ctx):
        if ctx.task.id == "t001" and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("transient")
        return "ok"

    suite = make_suite(flow=fails_once, n=3)
    first = run(suite, stub.base_url)
    assert first.errors == 1
    resumed = run(suite, stub.base_url, resume=first.path)
    rows = list(resumed.folder.rows())
    assert sorted(r.task_id for r in rows) == ["t000", "t001", "t002"]
    assert all(r.error is None for r in rows)
    assert any("resumed" in note for note in resumed.manifest.notes)


def test_a_torn_last_line_is_dropped_on_resume(make_suite, run, stub):
    suite = make_suite(n=3)
    first = run(suite, stub.base_url)
    with first.folder.results_path.open("a") as handle:
        handle.write('{"format_version": 1, "run_id": "x", "sui')
    resumed = run(suite, stub.base_url, resume=first.path)
    assert sorted(r.task_id for r in resumed.folder.rows()) == ["t000", "t001", "t002"]


def test_kill_9_while_recording_keeps_finished_cassettes_and_resume_records_the_rest(project: Path):
    with StubServer(latency=0.05, nonce=True) as stub:
        folder = _kill_midway(project, stub.base_url, "once")
        finished = {r.task_id for r in RunFolder(folder).rows()}
        cassettes = {p.stem for p in (project / "cassettes").rglob("*.json")}
        assert finished <= cassettes, "every written row has its recording on disk"
        hits_before = stub.stats().hits
        _resume(project, folder, stub.base_url, "once")
        recorded_now = stub.stats().hits - hits_before
        assert recorded_now == N - len(cassettes), "resume in 'once' records only tasks with no recording"
    # With the server gone, every task replays from its cassette.
    suite = find_suite(project / "test_resumable.py")
    config = RuntimeConfig(base_url="http://127.0.0.1:9/v1", cassette_dir=project / "cassettes")
    result = asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=project / "replay")))
    assert result.errors == 0 and result.rows == N


def test_a_finished_row_is_in_the_file_before_its_worker_starts_another_unit(make_suite, run, tmp_path: Path):
    """A flow that never waits (a code-only async flow) finds every earlier row on disk: what kill -9 would keep."""
    seen: list[int] = []

    async def counts_rows(input, ctx):  # never awaits: the loop does not turn between its units
        (results,) = (tmp_path / "runs").glob("*/results.jsonl")
        seen.append(len(results.read_bytes().splitlines()))
        return "ok"

    result = run(make_suite(flow=counts_rows, n=5), concurrency=1)
    assert result.errors == 0
    assert seen == [0, 1, 2, 3, 4]
