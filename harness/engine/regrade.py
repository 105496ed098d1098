"""Re-scoring a stored run with the current graders, without running any flow.

Graders change more often than recordings: a new rubric, a stricter regex, a calibrated judge.
``harness regrade <run>`` reads the run folder, rebuilds each attempt (task, output,
trajectory, state) and writes a *new* run folder with fresh scores; the original is untouched.
Judge calls go through the runtime like any other call, so they replay from (or record to)
their own cassettes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.core.clock import utc_now
from harness.core.context import RequestContext
from harness.core.dataset import Task
from harness.core.grading import Attempt, jsonable_params
from harness.core.results import ResultRow, ResultWriter, RunFolder, new_run_id
from harness.engine.executors import open_executor
from harness.engine.runner import RunTotals, gate_spec, grade, metric_name, runtime_task
from harness.engine.runtime import Runtime, RuntimeConfig
from harness.engine.suite import Suite

__all__ = ["regrade"]


def _tasks(suite: Suite) -> dict[str, Task]:
    try:
        return {task.id: task for task in suite.resolved_dataset().tasks()}
    except Exception:  # noqa: BLE001 - the dataset may have moved on; rows carry what graders need
        return {}


def _attempt(row: ResultRow, tasks: dict[str, Task]) -> Attempt:
    task = tasks.get(row.task_id) or Task(id=row.task_id, input=row.input if row.input is not None else "",
                                          expected=row.expected, tags=row.tags)
    return Attempt(task=task, output=row.output, trajectory=row.trajectory, state=row.state,
                   variant=row.variant, epoch=row.epoch, suite=row.suite)


class _Regrade:
    """A regrade as an executor sees a run: its units are the source rows, each graded afresh.

    It offers what :mod:`harness.engine.executors` use of a run (``drive``, ``request``,
    ``ship``/``unit``, ``account``), so judges can run in this process or on a Ray cluster.
    """

    def __init__(self, suite: Suite, tasks: dict[str, Task], concurrency: int) -> None:
        self.suite, self.tasks = suite, tasks
        self.options = SimpleNamespace(concurrency=concurrency)
        self.totals = RunTotals()
        self.stopped: str | None = None
        self.progress: Any = None
        self.shared_stop: Any = None

    def request(self, row: ResultRow) -> RequestContext:
        return RequestContext(self.suite.name, row.variant, row.task_id, row.epoch)

    def ship(self, row: ResultRow) -> ResultRow:
        return row

    def unit(self, row: ResultRow) -> ResultRow:
        return row

    def stop_requested(self) -> bool:
        return False

    def account(self, tally: RunTotals) -> None:
        self.totals.merge(tally)

    async def drive(self, runtime: Runtime, queue: Iterator[ResultRow], sink: Callable[[ResultRow], None],
                    run_id: str, concurrency: int) -> None:
        async def worker() -> None:
            for row in queue:
                scores = [] if row.error else await grade(self.suite.graders, _attempt(row, self.tasks))
                sink(row.model_copy(update={"run_id": run_id, "scores": scores}))

        await asyncio.gather(*(runtime_task(worker()) for _ in range(max(1, concurrency))))


async def regrade(run_folder: str | Path, suite: Suite, runs_dir: Path,
                  runtime: RuntimeConfig | None = None, *, concurrency: int = 8, executor: str = "local",
                  ray_address: str | None = None) -> RunFolder:
    """Score every row of ``run_folder`` with ``suite.graders`` into a new run folder.

    ``executor="ray"``: the graders (LLM judges, say) run on a Ray cluster, as ``harness run
    --executor ray`` runs units; the new run folder is written here alone.
    """
    engine = open_executor(executor, ray_address=ray_address)  # before anything is created
    source = RunFolder.open(run_folder)
    manifest = source.manifest()
    job = _Regrade(suite, _tasks(suite), concurrency)
    new_id = new_run_id(manifest.suite)
    regraded = manifest.model_copy(update={
        "run_id": new_id,
        "created_at": utc_now(),
        "graders": [{"id": g.id, "name": metric_name(g), "params": jsonable_params(g.params)} for g in suite.graders],
        "gates": [gate_spec(g) for g in suite.gates] or manifest.gates,
        "notes": [*manifest.notes, f"regraded from {manifest.run_id} at {utc_now()}"],
    })
    rows = list(source.rows())
    config = runtime or RuntimeConfig()
    config.backend = config.backend or suite.backend
    if suite.judge is not None:
        config.judge_settings = suite.judge
    live = Runtime(config)
    try:
        folder = RunFolder.create(runs_dir, regraded)
    except BaseException:
        engine.close()
        raise
    writer = ResultWriter(folder.results_path, scrub=live.store.scrubber.text)
    try:
        engine.start(job, live, rows, new_id)
        regraded.executor = engine.describe()
        async with live:
            await engine.execute(writer)
    finally:
        engine.close()
        writer.close()
    regraded.totals = manifest.totals | job.totals.as_dict()
    regraded.finished_at = utc_now()
    folder.write_manifest(regraded)
    return folder
