"""The verdict on one attempt (one task, variant and epoch): pass, fail or error.

Every surface that shows a row's status — the report's table, ``harness view``, pytest items —
calls :func:`row_status`, so they cannot disagree. It lives apart from
:mod:`harness.analysis.run_data` because it needs nothing but the row: the viewer's results
table calls it for each of 100,000 rows without loading pandas (about a second of start-up,
``bench/view_rows.py``'s cold first page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["Status", "row_status", "completed_pass", "attempt_arrays"]

Status = Literal["pass", "fail", "error"]


def row_status(row: Any) -> Status:
    """pass / fail / error for one attempt (any object with a row's ``error`` and ``scores``).

    * ``error``: the task raised, or a grader raised and none that ran said fail;
    * ``fail``: at least one grader that ran said fail;
    * ``pass``: every grader ran and passed.

    An errored grader is not a pass: a grader that raises exactly on the outputs it would fail
    must not turn them into passes (intent to treat, :mod:`harness.analysis.run_data`).
    """
    if row.error is not None:
        return "error"
    verdicts = [s.passed for s in row.scores if s.error is None and s.passed is not None]
    if not all(verdicts):
        return "fail"
    return "error" if any(s.error is not None for s in row.scores) else "pass"


def completed_pass(row: Any) -> bool | None:
    """The completed-only view of an attempt: None when nothing finished (the task errored, or
    every grader did), else whether every grader that ran passed (grader errors left out)."""
    if row.error is not None:
        return None
    verdicts = [s.passed for s in row.scores if s.error is None and s.passed is not None]
    if not verdicts and any(s.error is not None for s in row.scores):
        return None
    return all(verdicts)


def _bool_mask(array: pa.Array) -> np.ndarray:
    import numpy as np

    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def attempt_arrays(table: pa.Table, scores: tuple[np.ndarray, pa.StructArray] | None = None) -> dict[str, np.ndarray]:
    """The verdicts of :func:`row_status` and :func:`completed_pass` for every attempt of a run's columns
    at once. Per attempt: ``status`` (pass/fail/error), ``passed``, ``completed_passed`` (1/0/NaN for None),
    ``grader_errors`` and ``n_scores``, computed over the flattened scores (:func:`score_arrays`,
    or ``scores`` already made) without a Python loop."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from harness.core.columns import score_arrays

    n = table.num_rows
    parents, flat = scores if scores is not None else score_arrays(table)
    score_error = _bool_mask(pc.is_valid(flat.field("error"))) if len(flat) else np.zeros(0, bool)
    passed = flat.field("passed") if len(flat) else pa.array([], pa.bool_())
    verdict = ~score_error & _bool_mask(pc.is_valid(passed)) if len(flat) else np.zeros(0, bool)
    said_fail = verdict & ~_bool_mask(pc.fill_null(passed, True)) if len(flat) else np.zeros(0, bool)
    grader_errors = np.bincount(parents[score_error], minlength=n)
    any_fail = np.bincount(parents[said_fail], minlength=n) > 0
    verdicts = np.bincount(parents[verdict], minlength=n)
    task_error = _bool_mask(pc.is_valid(table.column("error_kind")))
    any_grader_error = grader_errors > 0
    code = np.where(task_error, 0, np.where(any_fail, 1, np.where(any_grader_error, 0, 2)))
    # three str objects shared by every attempt: astype(object) of a str array made one per attempt
    # (50 MB at 1M rows, peak RSS of harness gate in bench/analysis_scale.py)
    status = np.array(["error", "fail", "pass"], dtype=object)[code]
    completed = np.where(any_fail, 0.0, 1.0)
    completed[task_error | ((verdicts == 0) & any_grader_error)] = np.nan
    return {"status": status, "passed": code == 2, "completed_passed": completed,
            "grader_errors": grader_errors.astype(np.int64),
            "n_scores": np.bincount(parents, minlength=n).astype(np.int64)}
