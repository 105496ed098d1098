"""The progress bar of ``harness run --progress``: rows done of the total, errors, tokens and cost so far."""

from __future__ import annotations

from typing import Any, Self

from harness.core.results import RunTotals

__all__ = ["ProgressBar"]


class ProgressBar:
    """A rich progress bar: done/total, errors, tokens and cost so far."""

    def __init__(self, enabled: bool, total: int, run: Any) -> None:
        self.enabled, self.total, self.run = enabled, total, run
        self._bar: Any = None

    def __enter__(self) -> Self:
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn(f"[bold]{self.run.suite.name}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), transient=False,
        )
        self._bar.start()
        task_id = self._bar.add_task("run", total=self.total, stats="")
        start_rows = self.run.totals.rows

        def update(totals: RunTotals) -> None:
            stats = (f"errors {totals.errors} · tokens {totals.input_tokens + totals.output_tokens:,} "
                     f"· ${totals.cost_usd:.4f}")
            self._bar.update(task_id, completed=totals.rows - start_rows, stats=stats)

        self.run.progress = update
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        self.run.progress = None
