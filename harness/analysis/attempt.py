"""The verdict on one attempt (one task, variant and epoch): pass, fail or error.

Every surface that shows a row's status — the report's table, ``harness view``, pytest items —
calls :func:`row_status`, so they cannot disagree. It lives apart from
:mod:`harness.analysis.run_data` because it needs nothing but the row: the viewer's results
table calls it for each of 100,000 rows without loading pandas (about a second of start-up,
``bench/view_rows.py``'s cold first page).
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["Status", "row_status"]

Status = Literal["pass", "fail", "error"]


def row_status(row: Any) -> Status:
    """pass / fail / error for one attempt (any object with a row's ``error`` and ``scores``).

    * ``error``: the task raised (or every grader on it raised), so nothing was measured;
    * ``fail``: at least one grader that ran said fail;
    * ``pass``: otherwise.
    """
    if row.error is not None:
        return "error"
    verdicts = [s.passed for s in row.scores if s.error is None and s.passed is not None]
    if not verdicts and any(s.error is not None for s in row.scores):
        return "error"
    return "pass" if all(verdicts) else "fail"
