"""The runner: every (task, variant, epoch) of a suite, concurrently, into a run folder.

Work is scheduled by a fixed pool of ``concurrency`` workers pulling from one iterator, so a
100,000-task suite never holds 100,000 coroutines. Each unit of work runs the flow inside a
runtime unit (keyed, recorded, traced), grades the attempt, and appends its row to
``results.jsonl`` the moment it finishes. A task that raises becomes an error row; the run goes
on. Retries of 429/5xx/timeouts are the ``openai`` client's own (it backs off and honours
``Retry-After``). A budget (``max_cost_usd``, ``max_tokens``) stops scheduling new work once
spent; work in flight finishes and is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel

from harness.core.clock import utc_now
from harness.core.context import RequestContext, scope_extras
from harness.core.dataset import Dataset, Task
from harness.core.grading import Attempt, jsonable_params, metric_name
from harness.core.portable import portable_path, portable_traceback
from harness.core.results import (
    TASK_HASH_VERSION,
    ErrorInfo,
    ResultRow,
    ResultWriter,
    RunFolder,
    RunManifest,
    RunTotals,
    ScoreRecord,
    VariantInfo,
    new_run_id,
)
from harness.core.run_settings import SettingError, check_settings
from harness.engine import speedups
from harness.engine.cassette.guard import NetworkBlocked
from harness.engine.cassette.inventory import recording_meta
from harness.engine.cassette.miss import CassetteMiss
from harness.engine.cassette.record_mode import RecordMode
from harness.engine.cassette.scrub import Scrubber
from harness.engine.deadline import WorkerDeadline
from harness.engine.executors import open_executor
from harness.engine.flow import FlowContext, run_flow, task_rng
from harness.engine.loader import check_gates
from harness.engine.progress import ProgressBar
from harness.engine.provenance import git_state, packages
from harness.engine.runtime import Runtime, RuntimeConfig, Unit
from harness.engine.suite import Suite, Variant

__all__ = ["RunOptions", "RunResult", "RunTotals", "run_suite", "run_suite_sync", "grade", "metric_name", "gate_spec", "Shard"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """``index`` of ``count`` (1-based): a stable subset of tasks by a hash of their id."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not isinstance(self.count, int) \
                or not 1 <= self.index <= self.count:
            raise SettingError(f"shard i/N must have whole numbers 1 <= i <= N (e.g. 2/4); got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise SettingError(f"shard i/N must have whole numbers 1 <= i <= N (e.g. 2/4); got '{text}'") from None
        return cls(index, count)

    def holds(self, task_id: str) -> bool:
        digest = hashlib.sha256(task_id.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class RunOptions:
    """How to run a suite. Everything a CLI flag or a pytest option can set."""

    concurrency: int = 8
    epochs: int | None = None
    record_mode: str = "none"
    variants: Sequence[str] | None = None
    tags: Sequence[str] = ()
    ids: Sequence[str] = ()
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    timeout_s: float = 300.0
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    resume: str | Path | None = None
    runs_dir: Path = Path("reports/runs")
    shard: Shard | None = None
    #: Processes to spread the units over (0: one per CPU core). Replay is CPU-bound, so this
    #: is how a large replay uses every core; each process runs ``concurrency / workers`` at once.
    #: With ``executor="ray"``: Ray workers (None or 0: one per CPU of the cluster). None: 1 locally.
    workers: int | None = None
    #: Where the units run: ``local`` (this process, or ``workers`` forked ones) or ``ray``: the cluster
    #: at ``ray_address`` (None: a Ray instance on this machine), its workers set up by ``ray_runtime_env``.
    executor: str = "local"
    ray_address: str | None = None
    ray_runtime_env: dict[str, Any] | None = None
    progress: bool = False
    #: Ignore the suite's own task selection (tags, sample, limit) and start from the whole file.
    all_tasks: bool = False
    #: Shuffle the order work is scheduled in (tests use it to prove order does not matter).
    shuffle_seed: int | None = None
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    #: A person's name for the run and what it is for, stored in run.json (``--label``, ``--notes``).
    label: str | None = None
    description: str | None = None

    def check(self, labels: dict[str, str] | None = None) -> None:
        """Raise :class:`~harness.core.run_settings.SettingError` naming every setting out of its range.

        ``labels``: how the caller spells each setting (the CLI passes its flags).
        """
        check_settings({name: getattr(self, name) for name in _CHECKED}, labels)


#: The RunOptions fields with a range in :mod:`harness.core.run_settings`.
_CHECKED = ("concurrency", "workers", "epochs", "timeout_s", "sample", "limit", "max_cost_usd", "max_tokens")


@dataclass
class RunResult:
    folder: RunFolder
    manifest: RunManifest
    rows: int = 0
    errors: int = 0
    grader_errors: int = 0

    @property
    def path(self) -> Path:
        return self.folder.path


@dataclass(frozen=True)
class _Work:
    task: Task
    variant: Variant
    epoch: int


#: Values :func:`_jsonable` returns as they are, told by their exact type first: a failed
#: ``isinstance(value, BaseModel)`` and ``is_dataclass`` cost 1-2 us each, three times a row (issue 25).
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), dict, list})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_miss(exc: BaseException) -> bool:
    """A cassette miss, as raised or as the HTTP 400 the transport turns it into."""
    if isinstance(exc, CassetteMiss | NetworkBlocked):
        return True
    return isinstance(exc, openai.APIStatusError) and getattr(exc, "code", None) == "cassette_miss"


class TaskTimeout(TimeoutError):
    """The task's own timeout (``--timeout``) expired: says which flow and after how long."""


def _error_info(exc: BaseException) -> ErrorInfo:
    """Classify what made a task fail, from the exception it raised (not from side effects:
    a sibling branch abandoned by ``gather`` may miss a cassette after the real failure)."""
    miss = next((e for e in _chain(exc) if _is_miss(e)), None)
    if miss is not None:
        detail = scope_extras().get("cassette_miss")
        message = str(miss) if isinstance(miss, CassetteMiss | NetworkBlocked) or detail is None else str(detail)
        return ErrorInfo(kind="cassette_miss", type=type(miss).__name__, message=message)
    if isinstance(exc, TaskTimeout):
        return ErrorInfo(kind="timeout", type="TimeoutError", message=str(exc))
    if isinstance(exc, TimeoutError):
        return ErrorInfo(kind="timeout", type=type(exc).__name__,
                         message=f"the flow raised {type(exc).__name__}: {exc or 'something it waited for timed out'}")
    trace_text = portable_traceback(exc, limit=-8)
    return ErrorInfo(kind="model" if isinstance(exc, openai.APIError) else "task", type=type(exc).__name__,
                     message=str(exc) or type(exc).__name__, traceback=trace_text[-4000:])


def _portable(path: Any) -> Any:
    return None if path is None else portable_path(path)


#: A grader's id, metric name and JSON-able parameters: what each of its score records carries.
GraderHead = tuple[str, str, dict[str, Any]]


def grader_heads(graders: Sequence[Any]) -> list[GraderHead]:
    """Each grader's :data:`GraderHead`, made once per run. Per row and grader, the id (formatted
    from the parameters, twice) and the parameters' JSON round trip were 172 k of the 292 k
    instructions an attempt graded by ``exact_match`` and ``contains`` cost (callgrind; issue 25)."""
    return [(getattr(g, "id", repr(g)), metric_name(g), jsonable_params(getattr(g, "params", {}))) for g in graders]


async def grade(graders: Sequence[Any], attempt: Attempt, heads: Sequence[GraderHead] | None = None) -> list[ScoreRecord]:
    """Every grader's verdict; a grader that raises is a grader error, not a score of 0.

    ``heads``: :func:`grader_heads` of ``graders``, when the caller made them once for many attempts.
    """
    records = []
    for grader, (grader_id, name, params) in zip(graders, heads or grader_heads(graders), strict=True):
        record = ScoreRecord(grader=grader_id, name=name, params=params)
        try:
            score = await grader(attempt)
        except Exception as exc:  # noqa: BLE001 - any grader failure is recorded for that row
            record.error = ErrorInfo(kind="grader", type=type(exc).__name__, message=str(exc) or type(exc).__name__)
        else:
            record.value, record.passed, record.reason = score.value, score.passed, score.reason
            record.metadata = score.metadata
        records.append(record)
    return records


def _prompt_parts(variant: Variant, scrub: Callable[[str], str]) -> dict[str, str] | None:
    """The variant's prompt text, part by part, secrets scrubbed (a prompt may quote a key)."""
    if variant.prompt is None:
        return None
    return {part: scrub(text) for part, text in variant.prompt.parts.items()}


class _Run:
    """One execution of a suite: state shared by the workers."""

    def __init__(self, suite: Suite, options: RunOptions) -> None:
        self.suite = suite
        self.options = options
        self.variants = suite.select_variants(options.variants)
        self.epochs = options.epochs or suite.epochs
        declared = suite.resolved_dataset()
        self.declared_dataset = declared
        base = Dataset(declared.path) if options.all_tasks else declared
        self.dataset = base.select(
            tags=options.tags or None, ids=options.ids or None, sample=options.sample,
            seed=options.seed, limit=options.limit,
        )
        self.grader_heads = grader_heads(suite.graders)
        self.totals = RunTotals()
        self.stopped: str | None = None
        #: Set by the parent when a run is spread over worker processes (a multiprocessing Event).
        self.shared_stop: Any = None
        self.progress: Any = None

    def manifest(self, run_id: str, selected: list[Task]) -> RunManifest:
        tasks = len(selected)
        scrub = Scrubber().text
        commit, dirty = git_state()
        return RunManifest(
            run_id=run_id, suite=self.suite.name, suite_file=_portable(self.suite.metadata.get("file")),
            created_at=utc_now(), git_commit=commit, git_dirty=dirty,
            label=self.options.label, description=self.options.description, packages=packages(),
            dataset={
                "path": portable_path(self.dataset.path),
                "sha256": self.dataset.digest(),
                "tasks": tasks,
                "tags": list(self.dataset.tags),
                "ids": list(self.dataset.ids),
                "sample": self.dataset.sample,
                "seed": self.dataset.seed,
                "limit": self.dataset.limit,
            },
            variants=[VariantInfo(name=v.name, settings=v.settings(), settings_hash=v.settings_hash,
                                  prompt_parts=_prompt_parts(v, scrub)) for v in self.variants],
            graders=[{"id": getattr(g, "id", repr(g)), "name": metric_name(g),
                      "params": jsonable_params(getattr(g, "params", {}))} for g in self.suite.graders],
            gates=[gate_spec(g) for g in self.suite.gates],
            baseline_variant=self.suite.baseline,
            comparisons=[(base, candidate) for base, candidate in self.suite.comparisons],
            epochs=self.epochs,
            concurrency=self.options.concurrency,
            record_mode=str(self.options.record_mode),
            shard=str(self.options.shard) if self.options.shard else None,
            pass_threshold=self.suite.pass_threshold,
            max_error_rate=self.suite.max_error_rate,
            declared=self.declared(tasks), task_hash_version=TASK_HASH_VERSION,
            task_hashes={t.id: t.content_sha256() for t in selected})

    def declared(self, selected: int) -> dict[str, Any]:
        """What the suite declares (a run covering less is partial); the file is re-read only if narrowed."""
        narrowed = self.dataset != self.declared_dataset or self.options.shard is not None
        tasks = len(self.declared_dataset.tasks()) if narrowed else selected
        return {"tasks": tasks, "variants": self.suite.variant_names, "epochs": self.suite.epochs}

    def work(self, tasks: list[Task], done: set[tuple[str, str, int]]) -> list[_Work]:
        items = [
            _Work(task, variant, epoch)
            for task in tasks
            for variant in self.variants
            for epoch in range(1, self.epochs + 1)
            if (variant.name, task.id, epoch) not in done
        ]
        if self.options.shuffle_seed is not None:
            random.Random(self.options.shuffle_seed).shuffle(items)
        return items

    def over_budget(self) -> str | None:
        opts = self.options
        if opts.max_cost_usd is not None and self.totals.cost_usd >= opts.max_cost_usd:
            return f"cost budget ${opts.max_cost_usd:.4f} spent (${self.totals.cost_usd:.4f})"
        tokens = self.totals.input_tokens + self.totals.output_tokens
        if opts.max_tokens is not None and tokens >= opts.max_tokens:
            return f"token budget {opts.max_tokens} spent ({tokens})"
        return None

    def request(self, item: _Work) -> RequestContext:
        return RequestContext(self.suite.name, item.variant.name, item.task.id, item.epoch)

    async def execute(self, runtime: Runtime, item: _Work, run_id: str,
                      deadline: WorkerDeadline | None = None) -> ResultRow:
        """Run one unit into its row. ``deadline``: the calling worker's (:meth:`drive`); else one of its own."""
        if deadline is None:
            deadline = WorkerDeadline(self.options.timeout_s)
            try:
                return await self.execute(runtime, item, run_id, deadline)
            finally:
                deadline.close()
        request = self.request(item)
        # What a recording stores about its inputs (a hash of the task input): nothing is recorded
        # or replayed with record mode off, where it cost 38 us per unit (cProfile, bench/runner_throughput.py).
        meta = None if runtime.mode is RecordMode.OFF else recording_meta(item.variant, item.task.input)
        started_at, t0 = utc_now(), time.perf_counter()
        output: Any = None
        error: ErrorInfo | None = None
        ctx: FlowContext | None = None
        unit: Unit | None = None
        try:
            async with runtime.unit(request, meta, model=item.variant.forced_model) as unit:
                ctx = self._context(runtime, item)
                try:
                    with deadline:
                        if unit.unreadable is not None:
                            raise unit.unreadable
                        output = _jsonable(await run_flow(item.variant.resolve_flow(), item.task.input, ctx))
                except Exception as exc:  # a failing task is a row, never a crashed run
                    cause: BaseException = exc
                    if deadline.expired():
                        cause = TaskTimeout(f"flow {item.variant.flow_label!r} did not finish within the task timeout of "
                                            f"{self.options.timeout_s:g} s (--timeout)")
                    error = _error_info(cause)
                    unit.keep_failed_recording = error.kind == "task"
                    raise _TaskFailed from exc
        except _TaskFailed:
            pass
        latency = time.perf_counter() - t0
        assert unit is not None
        trajectory = unit.trajectory
        state = _jsonable(ctx.state) if ctx else {}
        scores: list[ScoreRecord] = []
        if error is None and self.suite.graders:
            attempt = Attempt(task=item.task, output=output, trajectory=trajectory, state=state,
                              variant=item.variant.name, epoch=item.epoch, suite=self.suite.name)
            scores = await grade(self.suite.graders, attempt, self.grader_heads)
        # model_validate of a dict: ResultRow(**fields) without pydantic's __init__ (see TraceRecorder.add).
        return ResultRow.model_validate({
            "run_id": run_id, "suite": self.suite.name, "variant": item.variant.name, "task_id": item.task.id,
            "epoch": item.epoch, "input": _jsonable(item.task.input), "expected": item.task.expected,
            "tags": list(item.task.tags), "output": output, "state": state, "error": error, "scores": scores,
            "usage": trajectory.usage(),  # validated into Usage with the row: 0.6 us less than apart (timeit)
            # An error row is not a replay of anything, even when the unit found a cassette: say so.
            "latency_s": unit.latency_s if unit.replayed else latency, "replayed": unit.replayed and error is None,
            "trajectory": trajectory,
            "cassette": str(unit.cassette) if unit.cassette else None,
            "started_at": started_at, "finished_at": utc_now(),
        })

    def _context(self, runtime: Runtime, item: _Work) -> FlowContext:
        return FlowContext(
            task=item.task, variant=item.variant.name, client=runtime.client, sync_client=runtime.sync_client,
            settings=item.variant.model, prompt=item.variant.prompt, rng=task_rng(item.task.id, item.epoch),
            params=dict(item.variant.params), prepared_kwargs=item.variant.prepared_kwargs,
        )

    def stop_requested(self) -> bool:
        """A spent budget stops new work: this process's, or the parent's through ``shared_stop``."""
        return self.stopped is not None or (self.shared_stop is not None and self.shared_stop.is_set())

    def account(self, tally: RunTotals) -> None:
        """Count a finished row; the first time a budget is spent, say so and stop new work."""
        self.totals.merge(tally)
        if self.progress is not None:
            self.progress(self.totals)
        opts = self.options
        if opts.max_cost_usd is None and opts.max_tokens is None:  # no budget: nothing to check (about 1 k a row)
            return
        reason = self.over_budget()
        if reason and not self.stopped:
            self.stopped = reason
            log.warning("budget reached: %s; no new work will start", reason)

    def ship(self, item: _Work) -> tuple[Task, str, int]:
        """What of a unit travels to a remote worker: the variant goes by name (its flow is there)."""
        return item.task, item.variant.name, item.epoch

    def unit(self, shipped: tuple[Task, str, int]) -> _Work:
        """A unit rebuilt from :meth:`ship`, on the worker."""
        return _Work(shipped[0], next(v for v in self.variants if v.name == shipped[1]), shipped[2])

    async def drive(self, runtime: Runtime, queue: Iterator[_Work], sink: Callable[[ResultRow], None],
                    run_id: str, concurrency: int) -> None:
        """Run the queue with ``concurrency`` units in flight, handing each finished row to ``sink``."""

        async def worker() -> None:
            deadline = WorkerDeadline(self.options.timeout_s)  # one timer per worker, not one per unit
            try:
                for item in queue:
                    if self.stop_requested():
                        return
                    sink(await self.execute(runtime, item, run_id, deadline))
            finally:
                deadline.close()

        await asyncio.gather(*(runtime_task(worker()) for _ in range(max(1, concurrency))))


class _TaskFailed(Exception):
    """Internal: leaves the unit with an exception so a partial recording is discarded."""


def gate_spec(gate: Any) -> dict[str, Any]:
    if isinstance(gate, BaseModel):
        return gate.model_dump(mode="json")
    return {"repr": repr(gate)}


def _open_folder(run: _Run, options: RunOptions, tasks: list[Task]) -> tuple[RunFolder, RunManifest, set[Any]]:
    if options.resume is None:
        manifest = run.manifest(new_run_id(run.suite.name), tasks)
        return RunFolder.create(Path(options.runs_dir), manifest), manifest, set()
    path = Path(options.resume)
    folder = RunFolder.open(path if path.exists() else Path(options.runs_dir) / str(options.resume))
    manifest = folder.manifest()
    if manifest.suite != run.suite.name:
        raise ValueError(f"cannot resume run {manifest.run_id}: it is of suite '{manifest.suite}', not '{run.suite.name}'")
    kept = folder.repair()
    for row in kept:
        run.totals.add(row)
    manifest.status = "running"
    manifest.notes.append(f"resumed at {utc_now()} with {len(kept)} finished rows kept (error rows run again)")
    return folder, manifest, {row.key for row in kept}


async def run_suite(suite: Suite, options: RunOptions | None = None) -> RunResult:
    """Run a suite and return its run folder. Safe to interrupt; resume with ``options.resume``."""
    options = options or RunOptions()
    options.check()  # before anything is created: a bad setting leaves no run folder behind
    check_gates(suite)  # likewise a gate that could never be evaluated
    options.runtime.record_mode = options.record_mode
    if options.runtime.backend is None and suite.backend is not None:
        options.runtime.backend = suite.backend
    suite.configure(options.runtime)  # the judge's and the simulated customer's models
    run = _Run(suite, options)
    tasks = run.dataset.tasks()
    _check_selection(run.dataset, tasks)
    if options.shard is not None:
        tasks = [t for t in tasks if options.shard.holds(t.id)]
    # Also before the run folder: a missing extra or a cluster out of reach leaves nothing behind.
    executor = open_executor(options.executor, workers=options.workers, ray_address=options.ray_address,
                             ray_runtime_env=options.ray_runtime_env)
    try:
        folder, manifest, done = _open_folder(run, options, tasks)
    except BaseException:
        executor.close()
        raise
    items = run.work(tasks, done)
    status = "complete"
    calibrations: list[Any] = []
    runtime = Runtime(options.runtime)
    runtime.store.suite_file = _shown_path(suite.metadata.get("file"))
    writer = ResultWriter(folder.results_path, scrub=runtime.store.scrubber.text)
    # The run's objects are few next to the libraries it imported: those stay out of its garbage
    # collections (speedups.frozen_heap; forked workers inherit it), and the units in flight are
    # not walked by a young collection every 700 allocations (speedups.sparse_gc says what it buys).
    with speedups.frozen_heap(), speedups.sparse_gc():
        try:
            manifest.backend = runtime.describe()
            # Known from the start, so a live run shows "15 of 92 rows" and an ETA, not just a count.
            manifest.totals["expected_rows"] = len(tasks) * len(run.variants) * run.epochs
            # Before this process activates its runtime or starts a thread: the local executor forks here.
            manifest.workers = executor.start(run, runtime, items, manifest.run_id)
            manifest.executor = executor.describe()
            folder.write_manifest(manifest)
            threading.Thread(target=runtime.store.prefetch, args=(map(run.request, items),), name="harness-prefetch",
                             daemon=True).start()
            async with runtime:
                with ProgressBar(options.progress, len(items), run):
                    await executor.execute(writer)
                calibrations = await _calibrate(suite) if suite.calibration and not run.stopped else []
        except (KeyboardInterrupt, asyncio.CancelledError):
            status = "interrupted"
            raise
        except Exception:
            status = "failed"
            raise
        finally:
            executor.close()
            writer.close()
            manifest.status = "budget_exceeded" if run.stopped and status == "complete" else status  # type: ignore[assignment]
            manifest.finished_at = utc_now()
            manifest.totals = run.totals.as_dict() | {"expected_rows": len(tasks) * len(run.variants) * run.epochs}
            if run.stopped:
                manifest.notes.append(f"stopped early: {run.stopped}")
            folder.write_manifest(manifest)
    _save_calibrations(calibrations, folder)
    return RunResult(folder, manifest, run.totals.rows, run.totals.errors, run.totals.grader_errors)


def _shown_path(path: Any) -> str | None:
    """A suite file as a command line would name it: relative to the working directory when inside it."""
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _check_selection(dataset: Dataset, tasks: list[Task]) -> None:
    """An id that names no task, or a selection that holds none, is a mistake: say so before any folder exists.

    (A shard may be empty — a small dataset over many CI jobs — so this looks before sharding.)
    """
    found = {task.id for task in tasks}
    unknown = [i for i in dataset.ids if i not in found]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else "")
        raise SettingError(f"--ids: {shown} {'is not a task id' if len(unknown) == 1 else 'are not task ids'} "
                           f"in {dataset.path}"
                           + (" (or it is left out by --tag/--sample/--limit)" if dataset.tags or dataset.sample
                              or dataset.limit else ""))
    if not tasks:
        chosen = [f"{flag} {' '.join(map(str, value)) if isinstance(value, tuple) else value}"
                  for flag, value in (("--tag", dataset.tags), ("--sample", dataset.sample),
                                      ("--limit", dataset.limit)) if value]
        raise SettingError(f"nothing to run: no task of {dataset.path} is selected"
                           + (f" by {', '.join(chosen)}" if chosen else " (the dataset is empty)"))


async def _calibrate(suite: Suite) -> list[Any]:
    """Measure the suite's judges against their human-labelled sets, in the run's runtime."""
    from harness.engine.calibration import calibrate_suite

    return await calibrate_suite(suite)


def _save_calibrations(reports: list[Any], folder: RunFolder) -> None:
    from harness.engine.calibration import save_calibration

    for report in reports:
        save_calibration(report, folder.path)


def runtime_task(coro: Any) -> asyncio.Task[Any]:
    """Workers are created outside any request context, so they get no branch of their own."""
    return asyncio.ensure_future(coro)


def run_suite_sync(suite: Suite, options: RunOptions | None = None) -> RunResult:
    return asyncio.run(run_suite(suite, options))
