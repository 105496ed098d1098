"""Ad-hoc evals inside ordinary tests, and the text a failing eval shows.

The pytest plugin (:mod:`harness.pytest_plugin`) registers the fixtures defined here:

``harness_eval(flow, cases, graders, ...) -> EvalRows``
    Runs one flow over a few inline cases through the real runner (concurrently, keyed,
    recorded, traced, graded) and fails the test — with every grader's score and reason, the
    output and a compact trace — unless every case passes. ``check=False`` returns the rows
    without judging them.

``eval_runtime -> EvalRuntime``
    An open :class:`harness.engine.runtime.Runtime` for the test, for code that is not a flow:
    ``eval_runtime.sync_client`` inside ``with eval_runtime.task("t1"):``, or async code with
    ``eval_runtime.run(coro)`` and ``eval_runtime.call_flow(flow, input)``.

``@pytest.mark.eval(epochs=5, pass_threshold=0.8, record_mode="once", concurrency=4, settings=...)``
    Per-test settings for both fixtures (epochs and pass threshold make a flaky model's test
    judge a pass *rate*). The marker also makes ``-m eval`` / ``-m "not eval"`` select them.

Both honour ``--eval-record-mode`` and ``--eval-base-url``. Recordings live where
pytest-recording puts them: ``<test file dir>/cassettes/<test module>/<test name>/<variant>/<case>.json``
(``--eval-cassettes DIR`` moves the root to ``DIR``).

The rendering helpers (:func:`row_verdicts`, :func:`describe_rows`) are shared with the suite
items, so an ad-hoc eval and a suite task fail with the same kind of message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.core.results import ResultRow
from harness.core.trace import Span, Trajectory

__all__ = [
    "EvalRows",
    "EvalRuntime",
    "EvalSettings",
    "FlowResult",
    "TaskVerdict",
    "describe_rows",
    "epoch_passed",
    "eval_runtime",
    "harness_eval",
    "row_verdicts",
    "run_sync",
]

T = TypeVar("T")

#: Lines of trace shown per attempt; a long agent loop is summarised, not dumped.
TRACE_LINES = 24
#: Characters of an input/output/reason shown per field.
FIELD_CHARS = 400
#: Failing epochs described in full (the others get one line each).
DETAILED_EPOCHS = 2


# -- verdicts ------------------------------------------------------------------------------------

def epoch_passed(row: ResultRow) -> bool:
    """One attempt passes when the task ran and every grader ran and passed.

    A grader error is not a pass: a test should be loud about a grader that could not judge.
    """
    if row.error is not None:
        return False
    return all(score.error is None and score.passed is True for score in row.scores)


@dataclass(frozen=True)
class TaskVerdict:
    """A task item's verdict over its epochs."""

    passed: bool
    passes: int
    attempts: int
    expected_attempts: int
    threshold: float

    @property
    def rate(self) -> float:
        """Passes over the epochs that should have run: an epoch a budget skipped is not a pass."""
        return self.passes / self.expected_attempts if self.expected_attempts else 0.0

    def headline(self) -> str:
        """``failed: pass rate 2/3 = 0.67 < pass_threshold 1.00`` — what the item says about itself."""
        if self.expected_attempts <= 1:
            return "passed" if self.passed else "failed"
        op = ">=" if self.passed else "<"
        ran = "" if self.attempts == self.expected_attempts else f" (only {self.attempts} epochs ran)"
        word = "passed" if self.passed else "failed"
        return (f"{word}: pass rate {self.passes}/{self.expected_attempts} = {self.rate:.2f} {op} "
                f"pass_threshold {self.threshold:.2f}{ran}")


def row_verdicts(rows: Sequence[ResultRow], threshold: float, expected_epochs: int) -> TaskVerdict:
    """Judge one (variant, task)'s attempts: all graders pass for one epoch; a pass rate for several.

    With several epochs the item passes when its pass rate reaches ``threshold`` (the suite's
    ``pass_threshold``). Epochs that never ran (a budget stop) count as not passed, so a
    budget cannot turn a failing task into a passing one.
    """
    passes = sum(epoch_passed(row) for row in rows)
    expected = max(expected_epochs, len(rows), 1)
    if expected == 1:
        passed = passes == 1
    else:
        passed = passes / expected >= threshold - 1e-12
    return TaskVerdict(passed=passed, passes=passes, attempts=len(rows), expected_attempts=expected,
                       threshold=threshold)


# -- rendering -----------------------------------------------------------------------------------

def _short(value: Any, limit: int = FIELD_CHARS) -> str:
    """One line of text for a value: strings as they are, anything else as compact JSON."""
    if value is None:
        return "None"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.2f}"


def _score_lines(row: ResultRow) -> list[str]:
    if not row.scores:
        return ["  scores:   (no graders)"] if row.error is None else []
    lines = ["  scores:"]
    for score in row.scores:
        if score.error is not None:
            lines.append(f"    ERROR {score.name}: grader raised {score.error.type}: {_short(score.error.message)}")
            continue
        mark = "PASS " if score.passed else "FAIL "
        reason = f"  {_short(score.reason)}" if score.reason else ""
        grader_id = f"  [{score.grader}]" if score.grader != score.name else ""
        lines.append(f"    {mark}{score.name} = {_number(score.value)}{reason}{grader_id}")
    return lines


def _error_lines(row: ResultRow, rerun_hint: str | None) -> list[str]:
    error = row.error
    if error is None:
        return []
    lines = [f"  error:    {error.kind} ({error.type}): {_short(error.message, 1200)}"]
    if error.kind == "cassette_miss" and rerun_hint:
        # A stale recording (changed request, more calls) needs rewrite: once would replay it again.
        mode = "rewrite" if "--record-mode rewrite" in error.message else "once"
        lines.append(f"  record it: {rerun_hint} --eval-record-mode {mode}")
    if error.traceback:
        tail = [line for line in error.traceback.rstrip().splitlines() if line.strip()][-10:]
        lines.append("  traceback (last lines):")
        lines.extend(f"    {line}" for line in tail)
    return lines


def _span_text(span: Span) -> str:
    """One span as a trace line: what happened, not every attribute."""
    attrs = span.attributes
    if span.kind == "model":
        tokens = f"{attrs.get('input_tokens') or 0}→{attrs.get('output_tokens') or 0} tok"
        calls = attrs.get("tool_calls") or []
        names = [c.get("name") if isinstance(c, dict) else str(c) for c in calls] if isinstance(calls, list) else []
        said = f" calls {', '.join(str(n) for n in names)}" if names else (
            f" → {_short(attrs.get('output'), 80)}" if attrs.get("output") else "")
        text = f"model {attrs.get('model') or span.name} ({tokens}){said}"
    elif span.kind == "tool":
        text = f"tool {span.name}({_short(attrs.get('arguments'), 80)}) → {_short(attrs.get('result'), 80)}"
    elif span.kind == "handoff":
        text = f"handoff {attrs.get('from_agent')} -> {attrs.get('to_agent')}"
    elif span.kind == "agent":
        text = f"agent {span.name}"
    else:
        shown = ", ".join(f"{k}={_short(v, 40)}" for k, v in list(attrs.items())[:4])
        text = f"{span.kind} {span.name}" + (f" {shown}" if shown else "")
    return text + (f"  !! {_short(span.error, 160)}" if span.error else "")


def describe_trace(trajectory: Trajectory, row: ResultRow | None = None) -> list[str]:
    """A compact, indented span tree: agents, handoffs, tool calls, model calls with tokens."""
    spans = trajectory.spans
    calls = len(trajectory.model_calls)
    head = (f"  trace:    {calls} model call{'s' * (calls != 1)} · {trajectory.input_tokens} in / "
            f"{trajectory.output_tokens} out tokens · ${trajectory.cost_usd:.4f}")
    if row is not None:
        head += f" · {row.latency_s:.2f} s"
    if not spans:
        return [head]
    known = {s.id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append("    " + "  " * depth + _span_text(span))
            walk(span.id, depth + 1)

    walk(None, 0)
    if len(lines) > TRACE_LINES:
        lines = [*lines[: TRACE_LINES - 1], f"    … {len(lines) - TRACE_LINES + 1} more spans"]
    return [head, *lines]


def describe_row(row: ResultRow, rerun_hint: str | None = None) -> list[str]:
    """Everything needed to see why one attempt failed, without opening the run folder."""
    status = "PASS" if epoch_passed(row) else ("ERROR" if row.error else "FAIL")
    lines = [f"epoch {row.epoch}: {status}",
             f"  input:    {_short(row.input)}"]
    if row.expected is not None:
        lines.append(f"  expected: {_short(row.expected)}")
    lines.append(f"  output:   {_short(row.output)}")
    lines += _error_lines(row, rerun_hint)
    lines += _score_lines(row)
    lines += describe_trace(row.trajectory, row)
    return lines


def describe_rows(title: str, rows: Sequence[ResultRow], verdict: TaskVerdict, *,
                  rerun_hint: str | None = None, footer: Iterable[str] = ()) -> str:
    """The failure (or pass) text of one task item: verdict, then its attempts, failing ones in full."""
    lines = [f"{title}: {verdict.headline()}{_first_reason(rows, verdict)}"]
    detailed = 0
    for row in sorted(rows, key=lambda r: r.epoch):
        failing_in_full = not epoch_passed(row) and detailed < DETAILED_EPOCHS
        if failing_in_full or (verdict.passed and detailed < 1):
            lines += describe_row(row, rerun_hint)
            detailed += 1
        else:
            lines.append(f"epoch {row.epoch}: {'PASS' if epoch_passed(row) else 'FAIL'} "
                         f"({', '.join(_brief_scores(row)) or 'no scores'})")
    lines += list(footer)
    return "\n".join(lines)


def _first_reason(rows: Sequence[ResultRow], verdict: TaskVerdict) -> str:
    """Why the first failing attempt failed, for the one-line summary (``-r`` and CI logs)."""
    if verdict.passed:
        return ""
    for row in sorted(rows, key=lambda r: r.epoch):
        if row.error is not None:
            return f" — {row.error.kind} error: {_short(row.error.message, 160)}"
        for score in row.scores:
            if score.error is not None:
                return f" — {score.name}: grader error: {_short(score.error.message, 160)}"
            if not score.passed:
                return f" — {score.name} = {_number(score.value)}: {_short(score.reason, 160)}"
    return ""


def _brief_scores(row: ResultRow) -> list[str]:
    if row.error is not None:
        return [f"{row.error.kind} error"]
    return [f"{s.name}={'err' if s.error else _number(s.value)}" for s in row.scores]


# -- per-test settings (@pytest.mark.eval) --------------------------------------------------------

@dataclass(frozen=True)
class EvalSettings:
    """What ``@pytest.mark.eval(...)`` may set for one test, on top of the command line."""

    epochs: int = 1
    pass_threshold: float = 1.0
    record_mode: str | None = None
    concurrency: int | None = None
    settings: Any = None
    timeout_s: float | None = None

    @classmethod
    def from_item(cls, item: pytest.Item) -> EvalSettings:
        marker = item.get_closest_marker("eval")
        if marker is None:
            return cls()
        if marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.eval takes keyword arguments only "
                                    f"({', '.join(cls.__dataclass_fields__)})")
        unknown = set(marker.kwargs) - set(cls.__dataclass_fields__)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.eval got unknown argument(s) "
                                    f"{', '.join(sorted(unknown))} (known: {', '.join(cls.__dataclass_fields__)})")
        return cls(**marker.kwargs)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")


def safe_name(text: str) -> str:
    """A test or flow name as a suite/variant name (letters, digits and ``_-.@+``)."""
    return _UNSAFE.sub("_", text).strip("_") or "eval"


def _cassette_root(request: pytest.FixtureRequest) -> Path:
    """``<test dir>/cassettes/<module>`` (pytest-recording's layout), or ``--eval-cassettes``/<module>."""
    configured = request.config.getoption("harness_cassettes", None)
    module_path = Path(str(request.node.path))
    root = Path(request.config.invocation_params.dir) / configured if configured else module_path.parent / "cassettes"
    return root / module_path.stem


def _record_mode(request: pytest.FixtureRequest, settings: EvalSettings) -> str:
    """The marker's record mode, else ``--eval-record-mode``, else replay only."""
    return settings.record_mode or request.config.getoption("harness_record_mode", None) or "none"


def _runtime_config(request: pytest.FixtureRequest, settings: EvalSettings) -> Any:
    from harness.engine.runtime import RuntimeConfig

    return RuntimeConfig(base_url=request.config.getoption("harness_base_url", None),
                         record_mode=_record_mode(request, settings), cassette_dir=_cassette_root(request))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside an already running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # an async test: keep its loop free
        return pool.submit(asyncio.run, coro).result()


# -- harness_eval ---------------------------------------------------------------------------------

class EvalRows(list[ResultRow]):
    """The rows of an ad-hoc eval (one per case and epoch), with their verdicts."""

    def __init__(self, rows: Iterable[ResultRow], run_folder: Path, verdicts: dict[str, TaskVerdict],
                 texts: dict[str, str]) -> None:
        super().__init__(rows)
        self.run_folder = run_folder
        self.verdicts = verdicts
        self._texts = texts

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts.values())

    def failures(self) -> list[str]:
        return [case for case, verdict in self.verdicts.items() if not verdict.passed]

    def explain(self) -> str:
        """The failure text of every failing case (all cases when none failed)."""
        chosen = self.failures() or list(self.verdicts)
        return "\n\n".join(self._texts[case] for case in chosen)

    def assert_passed(self) -> None:
        """Fail the test, with every grader's reason and a trace per failing case, unless all passed."""
        if not self.passed:
            failed = self.failures()
            head = f"{len(failed)} of {len(self.verdicts)} eval case(s) failed: {', '.join(failed)}"
            pytest.fail(f"{head}\n\n{self.explain()}\n\nrun folder: {self.run_folder}", pytrace=False)


def _task_records(cases: Sequence[Any]) -> list[dict[str, Any]]:
    """Inline cases as dataset lines: a string is an input; a dict or Task gives id/input/expected/tags."""
    records = []
    for index, case in enumerate(cases, start=1):
        if hasattr(case, "model_dump"):
            case = case.model_dump(mode="json")
        if not isinstance(case, dict):
            case = {"input": case}
        record = {"id": f"case-{index}", **case}
        record["id"] = str(record["id"])
        records.append(record)
    return records


@dataclass
class HarnessEval:
    """The ``harness_eval`` fixture's value: call it to run a flow over inline cases."""

    request: pytest.FixtureRequest
    workdir: Path
    calls: int = 0

    def __call__(self, flow: Callable[..., Any], cases: Sequence[Any], graders: Sequence[Any] = (), *,
                 variant: str | None = None, settings: Any = None, prompt: Any = None,
                 params: dict[str, Any] | None = None, epochs: int | None = None,
                 pass_threshold: float | None = None, concurrency: int | None = None,
                 check: bool = True) -> EvalRows:
        """Run ``flow`` on each case (``epochs`` times), grade it, and fail the test unless all pass.

        ``cases``: strings (inputs) or dicts/Tasks with ``input`` and optional ``id``,
        ``expected``, ``tags``. ``variant`` names the flow's recordings (default: the flow's
        name); give two calls in one test different variants. Returns the rows either way.
        """
        from harness.core.model_settings import ModelSettings
        from harness.engine.flow import flow_name
        from harness.engine.runner import RunOptions, run_suite
        from harness.engine.suite import Suite, Variant

        marked = EvalSettings.from_item(self.request.node)
        self.calls += 1
        records = _task_records(cases)
        dataset = self.workdir / f"cases-{self.calls}.jsonl"
        dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        threshold = pass_threshold if pass_threshold is not None else marked.pass_threshold
        suite = Suite(
            name=safe_name(self.request.node.name), dataset=dataset, graders=list(graders),
            variants=[Variant(safe_name(variant or flow_name(flow)), flow=flow, prompt=prompt,
                              model=settings or marked.settings or ModelSettings(), params=dict(params or {}))],
            epochs=epochs or marked.epochs, pass_threshold=threshold, root=self.workdir,
        )
        options = RunOptions(concurrency=concurrency or marked.concurrency or 8, runs_dir=self.workdir / "runs",
                             record_mode=_record_mode(self.request, marked),
                             runtime=_runtime_config(self.request, marked), timeout_s=marked.timeout_s or 300.0)
        result = run_sync(run_suite(suite, options))
        order = {record["id"]: index for index, record in enumerate(records)}
        rows = sorted(result.folder.rows(), key=lambda r: (order.get(r.task_id, len(order)), r.epoch))
        return self._judge(rows, list(order), result.path, suite, check)

    def _judge(self, rows: list[ResultRow], cases: list[str], folder: Path, suite: Any, check: bool) -> EvalRows:
        by_case: dict[str, list[ResultRow]] = {case: [] for case in cases}  # a case with no row fails
        for row in rows:
            by_case.setdefault(row.task_id, []).append(row)
        hint = f'pytest "{self.request.node.nodeid}"'
        verdicts = {case: row_verdicts(got, suite.pass_threshold, suite.epochs) for case, got in by_case.items()}
        texts = {case: describe_rows(case, by_case[case], verdicts[case], rerun_hint=hint) for case in by_case}
        result = EvalRows(rows, folder, verdicts, texts)
        if check:
            result.assert_passed()
        return result


@pytest.fixture
def harness_eval(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HarnessEval:
    """Run a flow over inline cases and assert its graders pass: ``harness_eval(flow, cases, graders)``."""
    return HarnessEval(request, tmp_path_factory.mktemp("harness_eval"))


# -- eval_runtime ---------------------------------------------------------------------------------

@dataclass
class FlowResult:
    """What :meth:`EvalRuntime.call_flow` returns: the output and everything graders would see."""

    output: Any
    trajectory: Trajectory
    state: dict[str, Any] = field(default_factory=dict)
    cassette: Path | None = None


class EvalRuntime:
    """An open :class:`~harness.engine.runtime.Runtime` for one test, usable from sync test code.

    A Runtime is async (its clients, its units). A sync test has no loop, so this object owns
    one event loop and one ``contextvars`` context, opens the Runtime inside them, and runs
    everything you hand to :meth:`run` there — the runtime stays current for all of it.
    Attribute access falls through to the Runtime (``client``, ``sync_client``, ``store``…).
    """

    def __init__(self, config: Any, suite: str, variant: str = "adhoc") -> None:
        from harness.engine.runtime import Runtime

        self.suite = suite
        self.variant = variant
        self.runtime = Runtime(config)
        self._loop = asyncio.new_event_loop()
        self._context = contextvars.copy_context()
        self._open = False

    def __getattr__(self, name: str) -> Any:
        if name == "runtime":  # not built yet (a failed __init__): never recurse
            raise AttributeError(name)
        return getattr(self.runtime, name)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run a coroutine on the runtime's loop (from sync code) and return its result."""
        async def call() -> T:
            return await awaitable

        task = self._loop.create_task(call(), context=self._context)
        return self._loop.run_until_complete(task)

    def open(self) -> EvalRuntime:
        self.run(self.runtime.__aenter__())
        self._open = True
        return self

    def close(self) -> None:
        try:
            if self._open:
                self.run(self.runtime.__aexit__(None, None, None))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._open = False
            self._loop.close()

    def request(self, task_id: str, variant: str | None = None, epoch: int = 1) -> Any:
        from harness.core.context import RequestContext

        return RequestContext(self.suite, variant or self.variant, task_id, epoch)

    @contextmanager
    def task(self, task_id: str, variant: str | None = None, epoch: int = 1,
             meta: dict[str, Any] | None = None) -> Iterator[Any]:
        """A keyed, recorded, traced unit for *sync* code (``sync_client`` calls) in the block.

        Mirrors :meth:`Runtime.unit`, which is async and would set the request context in
        the loop's context rather than in the test's own thread.
        """
        from harness.core.context import request_scope
        from harness.core.trace import TraceRecorder, recording
        from harness.engine.runtime import Unit

        request = self.request(task_id, variant, epoch)
        unit = Unit(request=request, recorder=TraceRecorder())
        self.runtime.store.begin(request, meta)
        ok = False
        try:
            with request_scope(request), recording(unit.recorder):
                yield unit
            ok = True
        finally:
            unit.cassette = self.runtime.store.end(request, ok)

    def call_flow(self, flow: Callable[..., Any], input: Any, *, task_id: str = "call-1",
                  variant: str | None = None, settings: Any = None, prompt: Any = None,
                  params: dict[str, Any] | None = None, epoch: int = 1, user: Any = None) -> FlowResult:
        """Run one flow on one input inside a unit, as the runner would, and return what it did.

        ``user`` (a dict or :class:`~harness.core.conversation.UserSpec`) makes the task a conversation;
        its simulated customer is ``runtime.config.simulator``."""
        return self.run(self._call_flow(flow, input, task_id, variant, settings, prompt, params or {}, epoch, user))

    async def _call_flow(self, flow: Callable[..., Any], input: Any, task_id: str, variant: str | None,
                         settings: Any, prompt: Any, params: dict[str, Any], epoch: int, user: Any) -> FlowResult:
        from harness.core.dataset import Task
        from harness.core.model_settings import ModelSettings
        from harness.engine.flow import FlowContext, run_flow, task_rng

        task = Task(id=task_id, input=input, user=user)
        async with self.runtime.unit(self.request(task_id, variant, epoch)) as unit:
            ctx = FlowContext(task=task, variant=variant or self.variant, client=self.runtime.client,
                              sync_client=self.runtime.sync_client, settings=settings or ModelSettings(),
                              prompt=prompt, rng=task_rng(task_id, epoch), params=params)
            output = await run_flow(flow, input, ctx)
        return FlowResult(output=output, trajectory=unit.trajectory, state=ctx.state, cassette=unit.cassette)


@pytest.fixture
def eval_runtime(request: pytest.FixtureRequest) -> Iterator[EvalRuntime]:
    """An open harness Runtime with this test's cassettes, honouring ``--eval-record-mode``."""
    settings = EvalSettings.from_item(request.node)
    runtime = EvalRuntime(_runtime_config(request, settings), safe_name(request.node.name)).open()
    try:
        yield runtime
    finally:
        runtime.close()
