"""Worker processes: one run's units spread over forked processes, every row written by the parent.

Replaying from cassettes is CPU-bound (the ``openai`` client builds and parses every request),
so one process uses one core. With ``workers=N`` the runner forks N processes once everything
is imported and the suite is loaded, so a worker starts in milliseconds. Each worker claims
units from a shared counter (a slow unit never leaves one process idle while another has a
backlog), runs them in its own event loop and runtime, and sends each finished row, already
serialized and scrubbed, through a pipe.

The parent alone appends to ``results.jsonl``, so the run folder, ``--resume`` and crash safety
are exactly those of a one-process run: a row is on disk the moment its unit finishes, and a
unit's cassette is on disk before its row. Budgets are the parent's: when one is spent a shared
event stops new units in every worker. Workers ignore Ctrl-C; the parent stops them. A worker
dies with the parent however it ends, ``kill -9`` included (:mod:`harness.core.lifeline`), and
writes no cassette itself: it sends each recording with the rows, and the parent writes it just
before them, so a unit whose row cannot be written leaves no recording either.

The fork start method is required (Linux, macOS); elsewhere the runner uses one process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness.core.lifeline import die_with_parent
from harness.core.results import ResultRow, ResultWriter, RunTotals, Tally, row_line
from harness.engine.cassette.files import write_cassette_file
from harness.engine.cassette.store import CassetteStore
from harness.engine.runtime import Runtime

__all__ = ["WorkerPool", "WorkerFailed", "fork_available"]

log = logging.getLogger(__name__)

#: How long a worker may take to exit once its pipe is closed, before it is terminated.
JOIN_TIMEOUT_S = 10.0


class WorkerFailed(RuntimeError):
    """A worker process crashed or was killed; the rows it finished are saved."""


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class WorkerPool:
    """N forked workers running one run's units; :meth:`collect` writes their rows as they come."""

    def __init__(self, run: Any, run_id: str, processes: list[Any], pipes: list[Connection], stop: Any) -> None:
        self.run, self.run_id = run, run_id
        self._processes, self._pipes, self._stop = processes, pipes, stop
        self._failures: list[str] = []

    @classmethod
    def start(cls, run: Any, runtime: Runtime, items: Sequence[Any], run_id: str, count: int) -> WorkerPool:
        """Fork ``count`` workers over ``items``.

        ``run`` (the runner's ``_Run``) and ``runtime`` are copied by the fork: each worker
        activates its own copy of the runtime, which must not be active here yet.
        """
        context = multiprocessing.get_context("fork")
        claimed = context.Value("q", 0)
        stop = context.Event()
        concurrency = max(1, -(-run.options.concurrency // count))
        processes, pipes = [], []
        for index in range(count):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_worker_main, name=f"harness-worker-{index + 1}", daemon=True,
                                      args=(run, runtime, items, claimed, stop, sender, run_id, concurrency,
                                            os.getpid()))
            process.start()
            sender.close()  # the parent keeps only the reading end, so a dead worker reads as EOF
            processes.append(process)
            pipes.append(receiver)
        log.info("run %s: %d units over %d worker processes", run_id, len(items), count)
        return cls(run, run_id, processes, pipes, stop)

    async def collect(self, writer: ResultWriter) -> None:
        """Write every worker's rows as they arrive; return when all workers are done.

        Raises :class:`WorkerFailed` if a worker crashed or was killed (its finished rows stay
        written: ``--resume`` runs the rest).
        """
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        live = set(self._pipes)

        def readable(pipe: Connection) -> None:
            try:
                lines: list[str] = []
                try:
                    while pipe.poll():  # everything this worker has sent so far: one write, one flush
                        self._receive(pipe.recv(), lines)
                finally:
                    writer.write_lines(lines)
            except EOFError:
                loop.remove_reader(pipe.fileno())
                live.discard(pipe)
                if not live and not finished.done():
                    finished.set_result(None)
            except Exception as exc:  # noqa: BLE001 - e.g. the disk is full: fail the run, not the loop
                if not finished.done():
                    finished.set_exception(exc)

        for pipe in self._pipes:
            loop.add_reader(pipe.fileno(), readable, pipe)
        try:
            await finished
        finally:
            for pipe in live:
                loop.remove_reader(pipe.fileno())
        self._join()
        if self._failures:
            raise WorkerFailed("; ".join(self._failures) + f". The rows that finished are saved: "
                               f"finish the run with --resume {self.run_id}")

    def _receive(self, message: tuple[Any, ...], lines: list[str]) -> None:
        kind, payload = message
        if kind == "rows":
            rows, cassettes = payload
            for path, text in cassettes:  # before any row that may be its unit's
                write_cassette_file(Path(path), text)
            for line, tally in rows:
                lines.append(line)
                self.run.account(RunTotals(*tally))
            if self.run.stopped:
                self._stop.set()
        else:
            self._failures.append(payload)

    def _join(self) -> None:
        for process in self._processes:
            process.join(JOIN_TIMEOUT_S)
            if process.exitcode is None:
                process.terminate()
                process.join()
            if process.exitcode not in (0, 1):  # 1: the worker already sent its traceback
                self._failures.append(f"{process.name} exited with code {process.exitcode}")

    def close(self) -> None:
        """Stop any worker still running (the run was interrupted) and release the pipes."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join(JOIN_TIMEOUT_S)
        for pipe in self._pipes:
            pipe.close()


def _claim(items: Sequence[Any], claimed: Any) -> Iterator[Any]:
    """Units in order, each handed to exactly one worker through the shared counter."""
    while True:
        with claimed.get_lock():
            index = claimed.value
            claimed.value += 1
        if index >= len(items):
            return
        yield items[index]


def _worker_main(run: Any, runtime: Runtime, items: Sequence[Any], claimed: Any, stop: Any, pipe: Connection,
                 run_id: str, concurrency: int, parent_pid: int) -> None:
    """A worker's whole life: its own loop and runtime; rows to the parent; exit 1 with a traceback."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    run.shared_stop, run.progress = stop, None
    try:
        asyncio.run(_work(run, runtime, _claim(items, claimed), pipe, run_id, concurrency))
    except BaseException:  # noqa: BLE001 - report anything to the parent before exiting
        name = multiprocessing.current_process().name
        try:
            pipe.send(("failed", f"{name} failed:\n{traceback.format_exc()}"))
        except OSError:
            pass  # the parent is gone
        raise SystemExit(1) from None
    finally:
        pipe.close()


async def _work(run: Any, runtime: Runtime, queue: Iterator[Any], pipe: Connection, run_id: str,
                concurrency: int) -> None:
    runtime.store.defer_writes = True
    async with runtime:
        sender = _RowSender(pipe, runtime.store)
        await run.drive(runtime, queue, sender, run_id, concurrency)
        sender.flush()


class _RowSender:
    """Rows that finish in one turn of the worker's event loop reach the parent as one message,
    sent at the end of that turn: fewer wake-ups for the parent, no delay for the rows."""

    def __init__(self, pipe: Connection, store: CassetteStore) -> None:
        self.pipe, self.store, self.scrub = pipe, store, store.scrubber.text
        self.batch: list[tuple[str, Tally]] = []

    def __call__(self, row: ResultRow) -> None:
        if not self.batch:
            asyncio.get_running_loop().call_soon(self.flush)
        self.batch.append((row_line(row, self.scrub), RunTotals.of(row).as_tuple()))

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        cassettes = self.store.take_pending()
        if batch or cassettes:
            self.pipe.send(("rows", (batch, cassettes)))
