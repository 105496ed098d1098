"""Re-scoring a stored run with the current graders, without running any flow.

Graders change more often than recordings: a new rubric, a stricter regex, a calibrated judge.
``harness regrade <run>`` reads the run folder, rebuilds each attempt (task, output,
trajectory, state) and writes a *new* run folder with fresh scores; the original is untouched.
Judge calls go through the runtime like any other call, so they replay from (or record to)
their own cassettes.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.clock import utc_now
from harness.core.dataset import Task
from harness.core.grading import Attempt, jsonable_params
from harness.core.results import ResultRow, ResultWriter, RunFolder, new_run_id
from harness.engine.runner import RunTotals, gate_spec, grade, metric_name
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


async def regrade(run_folder: str | Path, suite: Suite, runs_dir: Path,
                  runtime: RuntimeConfig | None = None) -> RunFolder:
    """Score every row of ``run_folder`` with ``suite.graders`` into a new run folder."""
    source = RunFolder.open(run_folder)
    manifest = source.manifest()
    tasks = _tasks(suite)
    new_id = new_run_id(manifest.suite)
    regraded = manifest.model_copy(update={
        "run_id": new_id,
        "created_at": utc_now(),
        "graders": [{"id": g.id, "name": metric_name(g), "params": jsonable_params(g.params)} for g in suite.graders],
        "gates": [gate_spec(g) for g in suite.gates] or manifest.gates,
        "notes": [*manifest.notes, f"regraded from {manifest.run_id} at {utc_now()}"],
    })
    folder = RunFolder.create(runs_dir, regraded)
    writer = ResultWriter(folder.results_path)
    totals = RunTotals()
    try:
        config = runtime or RuntimeConfig()
        config.backend = config.backend or suite.backend
        if suite.judge is not None:
            config.judge_settings = suite.judge
        async with Runtime(config):
            for row in source.rows():
                scores = [] if row.error else await grade(suite.graders, _attempt(row, tasks))
                fresh = row.model_copy(update={"run_id": new_id, "scores": scores})
                totals.add(fresh)
                writer.write(fresh)
    finally:
        writer.close()
    regraded.totals = manifest.totals | totals.as_dict()
    regraded.finished_at = utc_now()
    folder.write_manifest(regraded)
    return folder
