"""Whether a run is whole: the one status word every surface shows (report, compare, gate, run).

* ``complete``: every task, variant and epoch the suite declares has a readable row;
* ``partial``: the run covers less than its suite declares (``--ids``, ``--limit``, ``--sample``,
  ``--tag``, ``--variant``, ``--epochs``, one ``--shard``, ``pytest -k``), or rows are missing
  (interrupted, stopped at a budget);
* ``damaged``: a ``results.jsonl`` line cannot be read (torn or edited), named with its line;
* ``running``: the run has not finished (``run.json`` says so);
* ``failed``: the run stopped on an exception.

Verdicts on anything but a complete run are not verdicts on the suite: ``harness gate`` exits 3
on them unless told ``--allow-partial`` (partial only), and the report says so at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # this module stays pandas-free: the viewer's run list calls declared_problems per run
    from harness.analysis.run_data import RunData
    from harness.core.results import RunManifest

__all__ = ["RunStatus", "StatusWord", "declared_problems", "named_ids", "run_status"]

StatusWord = Literal["complete", "partial", "damaged", "running", "failed"]
#: How many missing task ids a problem line names.
NAMED = 5


class RunStatus(BaseModel):
    """A run's status word and, when it is not ``complete``, what is missing or broken."""

    word: StatusWord
    problems: list[str] = Field(default_factory=list)
    tasks_declared: int | None = None
    tasks_run: int = 0
    variants_declared: list[str] = Field(default_factory=list)
    variants_run: list[str] = Field(default_factory=list)
    epochs_declared: int = 1
    epochs_run: int = 1
    rows_expected: int = 0
    rows_read: int = 0
    damaged_lines: list[str] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.word == "complete"

    def line(self) -> str:
        """``partial: ran 12 of 40 tasks the suite declares (--limit 12)`` — or just ``complete``."""
        return self.word if not self.problems else f"{self.word}: " + "; ".join(self.problems)


def _narrowing(dataset: dict[str, object], shard: str | None) -> str:
    how = [f"--{key} {dataset[key]}" for key in ("limit", "sample") if dataset.get(key) is not None]
    if dataset.get("ids"):
        how.append(f"{len(dataset['ids'])} ids selected")  # type: ignore[arg-type]
    if dataset.get("tags"):
        how.append("--tag " + ",".join(map(str, dataset["tags"])))  # type: ignore[call-overload]
    if shard:
        how.append(f"shard {shard}")
    return f" ({', '.join(how)})" if how else ""


def named_ids(ids: Sequence[str]) -> str:
    """The first few ids, then how many more: ``t1, t2, t3, t4, t5 and 10 more``."""
    shown = ", ".join(ids[:NAMED])
    return shown + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")


def declared_problems(m: RunManifest, *, tasks_run: int | None = None,
                      variants_run: Sequence[str] | None = None) -> list[str]:
    """What the run leaves out of what its suite declares (variants, epochs, tasks), from ``run.json`` alone.

    ``tasks_run`` and ``variants_run`` default to what the manifest says was selected; :func:`run_status`
    passes what the rows show. Kept free of the rows so a list of runs can say "partial" cheaply.
    """
    declared = m.declared
    if variants_run is None:
        variants_run = [v.name for v in m.variants]
    if tasks_run is None:
        selected = m.dataset.get("tasks")
        tasks_run = int(selected) if isinstance(selected, int) else None
    variants_declared = [str(v) for v in declared.get("variants") or variants_run]
    epochs_declared = int(declared.get("epochs") or m.epochs)
    tasks_declared = declared.get("tasks")
    problems: list[str] = []
    missing_variants = [v for v in variants_declared if v not in variants_run]
    if missing_variants:
        problems.append(f"variants not run: {', '.join(missing_variants)} "
                        f"({len(variants_run)} of {len(variants_declared)} the suite declares)")
    if m.epochs < epochs_declared:
        problems.append(f"ran {m.epochs} of {epochs_declared} epochs the suite declares")
    if isinstance(tasks_declared, int) and tasks_run is not None and tasks_run < tasks_declared:
        problems.append(f"ran {tasks_run} of {tasks_declared} tasks the suite declares"
                        f"{_narrowing(m.dataset, m.shard)}")
    return problems


def run_status(data: RunData) -> RunStatus:
    """The status of a run as read: computed here only, so every surface says the same word."""
    m = data.manifest
    declared = m.declared
    variants_run = [v.name for v in m.variants] or list(data.variants)
    variants_declared = [str(v) for v in declared.get("variants") or variants_run]
    epochs_declared = int(declared.get("epochs") or m.epochs)
    observed_ids = data.task_ids
    selected = m.dataset.get("tasks")
    tasks_run = int(selected) if isinstance(selected, int) else len(observed_ids)
    tasks_declared = declared.get("tasks")
    problems = declared_problems(m, tasks_run=tasks_run, variants_run=variants_run)

    expected_tasks = max(tasks_run, len(observed_ids))
    rows_expected = expected_tasks * len(variants_run) * m.epochs
    for variant in variants_run:
        missing = expected_tasks * m.epochs - data.attempts_run(variant)
        if missing > 0:
            present = data.tasks_with_epochs(variant, m.epochs)
            absent = [t for t in observed_ids if t not in present]
            named = f"; no row at all for {named_ids(absent)}" if absent else ""
            problems.append(f"variant {variant}: {missing} of {expected_tasks * m.epochs} attempts have no row{named}")

    if m.status == "interrupted":
        problems.append("the run was interrupted before it finished (resume it with --resume)")
    elif m.status == "budget_exceeded":
        problems.append("the run stopped at its cost/token budget")
    elif m.status == "failed":
        problems.append("the run failed with an exception before it finished")
    elif m.status == "running":
        problems.append("the run has not finished (run.json says running)")

    damage = [d for d in data.damage if not (m.status == "running" and d.torn_tail)]
    problems = [*(f"damaged: {d}" for d in damage), *problems]
    word: StatusWord
    if damage:
        word = "damaged"
    elif m.status == "failed":
        word = "failed"
    elif m.status == "running":
        word = "running"
    elif problems:
        word = "partial"
    else:
        word = "complete"
    return RunStatus(word=word, problems=problems, tasks_declared=tasks_declared if isinstance(tasks_declared, int)
                     else None, tasks_run=tasks_run, variants_declared=variants_declared, variants_run=variants_run,
                     epochs_declared=epochs_declared, epochs_run=m.epochs, rows_expected=rows_expected,
                     rows_read=data.row_count, damaged_lines=[str(d) for d in damage])
