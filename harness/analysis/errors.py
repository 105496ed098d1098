"""The errors of a run, where a user looks: which task, what kind, the message, how to rerun them.

``harness run`` prints the first few, and the Markdown and HTML reports list them per task, from
the same :class:`ErrorDigest`, so "48 task errors" always comes with the tasks and the reasons
instead of sending the user to ``results.jsonl``. The digest is built in one pass over the rows
and keeps at most ``keep`` entries, so a 100,000-row run with every task failing stays small.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from harness.core.results import ErrorInfo, ResultRow

__all__ = ["ErrorEntry", "ErrorDigest", "error_digest", "one_line"]

#: Entries a digest keeps (reports list them; the CLI shows the first few).
KEPT = 50
#: Width of a one-line message.
LINE = 160


class ErrorEntry(BaseModel):
    """One failed attempt (a task error), or one grader that raised on an attempt."""

    variant: str
    task_id: str
    epoch: int
    source: Literal["task", "grader"]
    kind: str = Field(description="timeout, model, cassette_miss, task… or grader")
    type: str
    message: str = Field(description="the first line of the error message, shortened")
    grader: str | None = None

    def describe(self) -> str:
        """``timeout · TimeoutError: flow 'x' did not finish…`` (``grader accuracy`` for grader errors)."""
        what = f"grader {self.grader}" if self.source == "grader" else self.kind
        return f"{what} · {self.type}: {self.message}"


class ErrorDigest(BaseModel):
    """Counts of a run's errors, the first ``KEPT`` of them, and the tasks each variant lost."""

    task_errors: int = 0
    grader_errors: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    entries: list[ErrorEntry] = Field(default_factory=list)
    #: variant -> ids of tasks with a task error, in file order (each once)
    failed_ids: dict[str, list[str]] = Field(default_factory=dict)

    #: ``harness run … --ids …``: just the tasks that errored (None when none did, or too many to list)
    rerun: str | None = None
    #: ``harness run … --resume RUN``: retry every error row inside the same run folder
    resume: str | None = None

    @property
    def total(self) -> int:
        return self.task_errors + self.grader_errors


def _commands(digest: ErrorDigest, suite_file: str | None, suite: str, run_id: str | None,
              limit: int = 30) -> None:
    """Fill ``rerun`` (ids listed; up to ``limit`` of them) and ``resume`` (any number)."""
    if not digest.task_errors:
        return
    head = ["harness", "run", suite_file or "<suite file>", "--suite", suite]
    ids = list(dict.fromkeys(i for names in digest.failed_ids.values() for i in names))
    if len(ids) <= limit:
        digest.rerun = shlex.join([*head, "--variant", *digest.failed_ids, "--ids", *ids])
    if run_id is not None:
        digest.resume = shlex.join([*head, "--resume", run_id])


def one_line(text: str, width: int = LINE) -> str:
    """The first non-empty line of ``text``, cut to ``width`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def _entry(row: ResultRow, error: ErrorInfo, grader: str | None = None) -> ErrorEntry:
    return ErrorEntry(variant=row.variant, task_id=row.task_id, epoch=row.epoch,
                      source="grader" if grader is not None else "task", kind=error.kind, type=error.type,
                      message=one_line(error.message) or error.type, grader=grader)


def error_digest(rows: Iterable[ResultRow], keep: int = KEPT, *, suite: str | None = None,
                 suite_file: str | None = None, run_id: str | None = None) -> ErrorDigest:
    """Task errors first (they cost a task), then grader errors, each in row order.

    With ``suite`` the digest also says how to rerun the tasks that errored.
    """
    digest = ErrorDigest()
    kinds: Counter[str] = Counter()
    graders: list[ErrorEntry] = []
    failed: dict[str, dict[str, None]] = {}
    for row in rows:
        if row.error is not None:
            digest.task_errors += 1
            kinds[row.error.kind] += 1
            failed.setdefault(row.variant, {})[row.task_id] = None
            if len(digest.entries) < keep:
                digest.entries.append(_entry(row, row.error))
        for score in row.scores:
            if score.error is not None:
                digest.grader_errors += 1
                if len(graders) < keep:
                    graders.append(_entry(row, score.error, grader=score.name))
    digest.entries = (digest.entries + graders)[:keep]
    digest.by_kind = dict(sorted(kinds.items()))
    digest.failed_ids = {variant: list(ids) for variant, ids in failed.items()}
    if suite is not None:
        _commands(digest, suite_file, suite, run_id)
    return digest


def entries_by_task(entries: Sequence[ErrorEntry]) -> dict[tuple[str, str], list[ErrorEntry]]:
    """Entries grouped per (variant, task), in first-seen order: how reports list them."""
    grouped: dict[tuple[str, str], list[ErrorEntry]] = {}
    for entry in entries:
        grouped.setdefault((entry.variant, entry.task_id), []).append(entry)
    return grouped
