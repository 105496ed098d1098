"""The executor on this machine: this process, or forked worker processes (``--workers``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from harness.core.results import ResultRow, ResultWriter, RunTotals
from harness.engine.executors.base import Executor
from harness.engine.runtime import Runtime
from harness.engine.workers import WorkerPool, fork_available

__all__ = ["LocalExecutor"]

log = logging.getLogger(__name__)


class LocalExecutor(Executor):
    """Every unit in this process's event loop, or spread over forked workers (:mod:`harness.workers`)."""

    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        """``workers``: processes (None: 1; 0: one per CPU core), never more than there are units."""
        self.requested = workers
        self._pool: WorkerPool | None = None

    def start(self, run: Any, runtime: Runtime, items: Sequence[Any], run_id: str) -> int:
        self._run, self._runtime, self._items, self._run_id = run, runtime, items, run_id
        processes = self._processes(len(items))
        if processes > 1:  # forked now: this process's runtime is not active and no thread runs yet
            self._pool = WorkerPool.start(run, runtime, items, run_id, processes)
        return processes

    def _processes(self, units: int) -> int:
        requested = self.requested
        wanted = 1 if requested is None else requested if requested > 0 else (os.cpu_count() or 1)
        if wanted > 1 and not fork_available():
            log.warning("--workers %d needs the fork start method, which this platform lacks; using one process",
                        wanted)
            return 1
        return max(1, min(wanted, units))

    async def execute(self, writer: ResultWriter) -> None:
        if self._pool is not None:
            await self._pool.collect(writer)
            return
        run = self._run

        def sink(row: ResultRow) -> None:
            writer.write(row)
            run.account(RunTotals.of(row))

        await run.drive(self._runtime, iter(self._items), sink, self._run_id,
                        min(run.options.concurrency, len(self._items) or 1))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
