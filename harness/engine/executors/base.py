"""The executor interface: where a run's units execute, while the driver alone writes the run.

Every executor gets the same three things from the runner: the run (its suite, options and
the shared runner loop :meth:`~harness.runner._Run.drive`), the driver's runtime, and the
units still to do. It runs each unit somewhere (this process, forked processes, a Ray
cluster) and hands every finished row back to this process, which appends it to
``results.jsonl`` and counts it against the budgets. So the run folder, ``--resume``, budgets
and crash safety mean the same thing whichever executor ran the units.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from harness.core.results import ResultWriter
from harness.engine.runtime import Runtime

__all__ = ["Executor", "ExecutorUnavailable"]


class ExecutorUnavailable(RuntimeError):
    """An executor that cannot run here (a missing extra, a cluster out of reach). Raised before
    a run folder exists, so nothing is left behind."""


class Executor(ABC):
    """Runs one run's units; the runner calls :meth:`start`, then :meth:`execute`, then :meth:`close`."""

    #: How run.json names it.
    kind: str = ""

    @abstractmethod
    def start(self, run: Any, runtime: Runtime, items: Sequence[Any], run_id: str) -> int:
        """Get ready to run ``items``; called before ``runtime`` is active or any thread starts.

        Returns the number of processes (or cluster workers) the units will be spread over.
        """

    @abstractmethod
    async def execute(self, writer: ResultWriter) -> None:
        """Run every unit (until a budget stops new work), writing each row as it arrives."""

    def close(self) -> None:
        """Release what :meth:`start` took (also after a failure or an interrupt)."""

    def describe(self) -> dict[str, Any]:
        """What run.json records about where the units ran."""
        return {"kind": self.kind}
