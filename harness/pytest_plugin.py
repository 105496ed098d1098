"""The pytest plugin (registered through the ``pytest11`` entry point): ``pytest evals/`` runs suites.

Items
-----
Every :class:`~harness.engine.suite.Suite` defined at module level in a collected test module
(``evals/test_*.py``) becomes a collector with one item per (variant, task) and one gate item::

    evals/test_support.py::support::triage@v2::ticket-007     a task item
    evals/test_support.py::support::gates                     the suite's gates

Nested names (suite → variant → task) keep node ids stable and readable in ``-v``, ``--lf``
and IDE trees; JUnit XML gets ``classname="evals.test_support.support.triage@v2"`` and
``name="ticket-007"``. ``-k`` matches any level (``-k "support and v2 and ticket-007"``) and a
task's dataset tags (``-k dev``). pytest's ``-k`` grammar has no ``@``, so every variant item
also answers to the name's ``-k``-safe form, ``@`` spelt ``_at_`` (``-k triage_at_v2``), and the
plugin reads an ``@`` in a ``-k`` expression as ``_at_``: ``-k "triage@v2 and ticket-007"`` works
as written (an ``@`` can never be part of a valid expression, so nothing else changes meaning). Every suite item carries the ``eval`` marker (``-m "not eval"`` skips them).
Plain test functions in the same module are collected as usual.

A task item passes when every grader passes (a grader *error* is not a pass). With several
epochs (``--epochs K`` or the suite's ``epochs``) it passes when its pass rate reaches the
suite's ``pass_threshold`` and says its rate. A failing item shows the output, every grader's
score and reason, the task error and a compact trace (agents, handoffs, tool calls, model
calls with tokens). The gate item fails when a gate fails, or when the run is incomplete
(task error rate over 5 %, budget stop).

Running
-------
Items do not call the model one by one. When the first item of a suite runs, the plugin runs
the suite **once**, concurrently (``harness.engine.runner.run_suite``), for exactly the selected
(variant, task) pairs, into a run folder; each item then reports its own row(s). A selection
that is not a rectangle (``--lf`` after scattered failures) runs as a few rectangular parts
merged into one run folder, so nothing unselected runs. Selecting only a gate item runs the
whole suite (the gates need it).

When ``-k``, ``--lf`` or ``--variant`` leave only part of a suite selected, the gate item judges
only what ran and says so (``partial: 12 of 40 tasks ran``); gates about variants that did not
run are skipped, with a line saying why, rather than failing on a missing variant.

pytest-xdist (``-n auto``, any ``--dist`` mode): every worker collects and deselects the same
items, so each knows its suite's whole selection. The first worker to reach any item of a suite
takes a lock file in a session folder the controller hands to the workers, runs the selection
(concurrently, as above) and publishes the run folder; workers that get other items of that
suite wait for it and report their rows from the same folder. So each suite runs once, in one
process, whatever the scheduling; the cost is that a worker holding items of a suite that is
still running waits for it. A worker that dies mid-run is noticed (its pid) and another takes
over. The controller (or the single process without xdist) writes **one report per suite run**
in ``pytest_sessionfinish`` and lists them in the terminal summary.

Options
-------
``--eval-record-mode {none,once,rewrite,off}`` (default ``none``: replay only),
``--variant NAME`` (repeatable: ``--variant a@v1 --variant b@v2``; deselects other variants), ``--epochs K``,
``--concurrency N`` (default 8), ``--eval-report DIR`` (run folders and reports; default
``<rootdir>/reports/runs``), ``--baseline PATH`` (baseline run for no-regression gates),
``--max-cost USD``, ``--eval-base-url URL`` (default ``$OPENAI_BASE_URL``),
``--eval-cassettes DIR`` (default ``<rootdir>/cassettes``), ``--eval-no-plots``.

Ad-hoc evals in ordinary tests
------------------------------
Fixtures from :mod:`harness.testing.fixtures`:

``harness_eval(flow, cases, graders, *, variant=, settings=, epochs=, pass_threshold=, check=True)``
    runs a flow over inline cases (strings, or dicts with ``input``/``id``/``expected``/``tags``)
    through the runner and fails the test with the same rich text as a task item unless every
    case passes; returns the rows (``EvalRows``: ``.verdicts``, ``.passed``, ``.assert_passed()``).
``eval_runtime``
    an open :class:`~harness.engine.runtime.Runtime` for the test (``EvalRuntime``): ``with
    eval_runtime.task("t1"): eval_runtime.sync_client.chat.completions.create(...)``;
    ``eval_runtime.call_flow(flow, input)``; ``eval_runtime.run(coro)`` for async code.
``@pytest.mark.eval(epochs=, pass_threshold=, record_mode=, concurrency=, settings=, timeout_s=)``
    per-test settings for both fixtures.

Both honour ``--eval-record-mode`` and record to ``<test dir>/cassettes/<module>/<test name>/``
(pytest-recording's layout; ``--eval-cassettes DIR`` moves the root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.engine.loader import suites_in_module
from harness.engine.suite import Suite
from harness.testing.fixtures import (
    TaskVerdict,
    describe_rows,
    eval_runtime,
    harness_eval,
    row_verdicts,
)

__all__ = ["SuiteCollector", "VariantCollector", "TaskItem", "GateItem", "eval_runtime", "harness_eval"]

RECORD_MODES = ("none", "once", "rewrite", "off")
#: How often a worker waiting for another worker's suite run looks for the result.
POLL_S = 0.05
_COORD_KEY = "harness_coord_dir"
#: How the plugin's options spell each run setting, for messages about them.
OPTION_FLAGS = {"epochs": "--epochs", "concurrency": "--concurrency", "max_cost_usd": "--max-cost"}


# -- options ----------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "orchestration-harness evals (Suite objects in test modules)")
    group.addoption("--eval-record-mode", dest="harness_record_mode", choices=RECORD_MODES, default="none",
                    help="cassettes: none = replay only (default) · once = record what is missing · "
                         "rewrite = record again · off = live, record nothing")
    group.addoption("--variant", dest="harness_variants", action="append", default=[], metavar="NAME",
                    help="run only this suite variant (repeatable); other variants' items are deselected")
    group.addoption("--epochs", dest="harness_epochs", type=int, default=None, metavar="K",
                    help="attempts per task; a task item passes when its pass rate reaches pass_threshold")
    group.addoption("--concurrency", dest="harness_concurrency", type=int, default=8, metavar="N",
                    help="units of work in flight at once within a suite (default 8)")
    group.addoption("--eval-report", dest="harness_report_dir", default=None, metavar="DIR",
                    help="where run folders and their reports go (default <rootdir>/reports/runs)")
    group.addoption("--baseline", dest="harness_baseline", default=None, metavar="PATH",
                    help="baseline run folder for no-regression gates")
    group.addoption("--max-cost", dest="harness_max_cost", type=float, default=None, metavar="USD",
                    help="stop scheduling a suite's work once this much is spent")
    group.addoption("--eval-base-url", dest="harness_base_url", default=None, metavar="URL",
                    help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)")
    group.addoption("--eval-cassettes", dest="harness_cassettes", default=None, metavar="DIR",
                    help="cassette root (default <rootdir>/cassettes; ad-hoc evals: next to the test file)")
    group.addoption("--eval-no-plots", dest="harness_no_plots", action="store_true", default=False,
                    help="write reports without plots (faster)")


@dataclass(frozen=True)
class EvalOptions:
    """The command line, resolved: paths given are relative to where pytest was started, defaults to rootdir."""

    record_mode: str
    variants: tuple[str, ...]
    epochs: int | None
    concurrency: int
    runs_dir: Path
    baseline: Path | None
    max_cost: float | None
    base_url: str | None
    cassettes: Path
    plots: bool

    @classmethod
    def from_config(cls, config: pytest.Config) -> EvalOptions:
        here = Path(config.invocation_params.dir)

        def path(value: str | None, default: Path) -> Path:
            return default if value is None else here / value

        from harness.core.run_settings import SettingError, check_settings

        epochs = config.getoption("harness_epochs")
        concurrency = config.getoption("harness_concurrency")
        try:
            check_settings({"epochs": epochs, "concurrency": concurrency,
                            "max_cost_usd": config.getoption("harness_max_cost")}, OPTION_FLAGS)
        except SettingError as exc:
            raise pytest.UsageError(str(exc)) from None
        baseline = config.getoption("harness_baseline")
        return cls(
            record_mode=config.getoption("harness_record_mode"),
            variants=tuple(config.getoption("harness_variants") or ()),
            epochs=epochs,
            concurrency=concurrency,
            runs_dir=path(config.getoption("harness_report_dir"), config.rootpath / "reports" / "runs"),
            baseline=None if baseline is None else here / baseline,
            max_cost=config.getoption("harness_max_cost"),
            base_url=config.getoption("harness_base_url"),
            cassettes=path(config.getoption("harness_cassettes"), config.rootpath / "cassettes"),
            plots=not config.getoption("harness_no_plots"),
        )


def k_safe(text: str) -> str:
    """A variant name (or a ``-k`` expression) as ``-k`` can spell it: ``triage@v2`` -> ``triage_at_v2``."""
    return text.replace("@", "_at_")


# -- session state --------------------------------------------------------------------------------

_STATE = pytest.StashKey["EvalSession"]()
_MODULE_SUITES = pytest.StashKey[list[Suite]]()
_SEEN_SUITES = pytest.StashKey[set[int]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "eval(epochs=, pass_threshold=, record_mode=, concurrency=, settings=, timeout_s=): "
                   "an eval (suite items carry it; on an ordinary test it sets harness_eval/eval_runtime options)")
    keyword = config.getoption("keyword", None)
    if keyword and "@" in keyword:  # variant names use '@', which -k's grammar lacks
        config.option.keyword = k_safe(keyword)
    workerinput = getattr(config, "workerinput", None)
    shared = (workerinput or {}).get(_COORD_KEY)
    root = Path(shared) if shared else Path(tempfile.gettempdir()) / f"harness-pytest-{uuid.uuid4().hex[:12]}"
    config.stash[_STATE] = EvalSession(EvalOptions.from_config(config), Coordinator(root),
                                       is_worker=workerinput is not None, owns_root=not shared)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and state.owns_root:
        shutil.rmtree(state.coordinator.root, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand every worker the session folder where suite runs are coordinated."""
    node.workerinput[_COORD_KEY] = str(_state(node.config).coordinator.root)


def _state(config: pytest.Config) -> EvalSession:
    return config.stash[_STATE]


def pytest_report_header(config: pytest.Config) -> str | None:
    options = _state(config).options
    return (f"harness: record mode {options.record_mode} · runs → {options.runs_dir} · "
            f"cassettes → {options.cassettes}")


# -- collection -----------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A module-level Suite becomes a :class:`SuiteCollector` (once, however many names it has)."""
    if not isinstance(obj, Suite) or not isinstance(collector, pytest.Module):
        return None
    if _MODULE_SUITES not in collector.stash:  # tags each suite with its file (relative datasets resolve there)
        try:
            collector.stash[_MODULE_SUITES] = suites_in_module(collector.obj, collector.path)
        except ValueError as exc:  # GateConfigError: a gate that could never be evaluated
            raise collector.CollectError(str(exc)) from None
    seen = collector.session.stash.setdefault(_SEEN_SUITES, set())
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    return SuiteCollector.from_parent(collector, name=obj.name, suite=obj)


class SuiteCollector(pytest.Collector):
    """One suite: a :class:`VariantCollector` per variant, then the gate item."""

    def __init__(self, *, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.tasks: list[Any] = []
        self.add_marker("eval")

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        try:
            self.tasks = self.suite.resolved_dataset().tasks()
        except (ValueError, OSError) as exc:  # SuiteError and DatasetError are ValueErrors
            raise self.CollectError(f"suite '{self.suite.name}': {exc}") from exc
        children: list[pytest.Item | pytest.Collector] = []
        for variant in self.suite.variants:
            child = VariantCollector.from_parent(self, name=variant.name)
            child.extra_keyword_matches.add(k_safe(variant.name))  # -k triage_at_v2
            children.append(child)
        children.append(GateItem.from_parent(self, name="gates"))
        return children

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"suite {self.suite.name}"

    def all_pairs(self, variants: Iterable[str]) -> list[tuple[str, str]]:
        return [(variant, task.id) for variant in variants for task in self.tasks]

    def allowed_variants(self, wanted: Sequence[str]) -> list[str]:
        return [name for name in self.suite.variant_names if not wanted or name in wanted]


class VariantCollector(pytest.Collector):
    """One variant of a suite: a :class:`TaskItem` per dataset task."""

    @property
    def suite_node(self) -> SuiteCollector:
        assert isinstance(self.parent, SuiteCollector)
        return self.parent

    def collect(self) -> list[pytest.Item]:
        items = []
        for task in self.suite_node.tasks:
            item = TaskItem.from_parent(self, name=task.id, task=task)
            item.extra_keyword_matches.update(task.tags)  # -k dev selects tasks tagged "dev"
            items.append(item)
        return items

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.suite_node.suite.name}::{self.name}"


class EvalFailure(Exception):
    """A task or gate that failed; its text is the whole failure report (no traceback)."""


class _EvalItem(pytest.Item):
    """What task and gate items share: the suite they belong to and how they fail."""

    @property
    def suite_node(self) -> SuiteCollector:
        node = self.parent
        while node is not None and not isinstance(node, SuiteCollector):
            node = node.parent
        assert node is not None
        return node

    def suite_run(self) -> SuiteRun:
        run = _state(self.config).run_for(self.suite_node)
        if run.error:
            raise EvalFailure(f"suite '{self.suite_node.suite.name}' could not run: {run.error}")
        return run

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, EvalFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class TaskItem(_EvalItem):
    """One (suite, variant, task): passes when its graders pass (or its pass rate is reached)."""

    def __init__(self, *, task: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task

    @property
    def variant(self) -> str:
        assert self.parent is not None
        return self.parent.name

    @property
    def title(self) -> str:
        return f"{self.suite_node.suite.name}::{self.variant}::{self.task.id}"

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.title

    def runtest(self) -> None:
        run = self.suite_run()
        rows = run.rows.get((self.variant, self.task.id), [])
        if not rows:
            pytest.skip(f"{self.title} did not run: {run.why_missing()}")
        verdict = row_verdicts(rows, run.manifest.pass_threshold, run.manifest.epochs)
        self._record_properties(run, rows, verdict)
        footer = [f"run folder: {run.folder}"]
        hint = f'pytest "{self.nodeid}"'
        text = describe_rows(self.title, rows, verdict, rerun_hint=hint, footer=footer)
        if not verdict.passed:
            raise EvalFailure(text)
        self.add_report_section("call", "harness", text)

    def _record_properties(self, run: SuiteRun, rows: Sequence[Any], verdict: TaskVerdict) -> None:
        """JUnit ``<properties>``: the run, the pass rate and each grader's mean score."""
        self.user_properties.append(("harness.run_id", run.run_id))
        self.user_properties.append(("harness.pass_rate", f"{verdict.rate:.3f}"))
        values: dict[str, list[float]] = {}
        for row in rows:
            for score in row.scores:
                if score.value is not None:
                    values.setdefault(score.name, []).append(score.value)
        for name, got in values.items():
            self.user_properties.append((f"harness.score.{name}", f"{sum(got) / len(got):.3f}"))


class GateItem(_EvalItem):
    """The suite's gates, judged on what this session ran of the suite."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.suite_node.suite.name}::gates"

    def runtest(self) -> None:
        run = self.suite_run()
        state = _state(self.config)
        judgement = judge_gates(run.folder, run.ran, run.total, state.options.baseline)
        text = judgement.text(f"{self.suite_node.suite.name}::gates", run.folder)
        self.user_properties.append(("harness.run_id", run.run_id))
        self.user_properties.append(("harness.gate_exit_code", str(judgement.exit_code)))
        if judgement.exit_code != 0:
            raise EvalFailure(text)
        self.add_report_section("call", "harness", text)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """``--variant``: deselect other variants' items (and the gates of suites with none of them)."""
    wanted = _state(config).options.variants
    if not wanted:
        return
    suites = {item.suite_node for item in items if isinstance(item, _EvalItem)}
    known = {name for node in suites for name in node.suite.variant_names}
    unknown = sorted(set(wanted) - known)
    if suites and unknown:
        raise pytest.UsageError(f"--variant {', '.join(unknown)}: no collected suite has such a variant "
                                f"(they have: {', '.join(sorted(known))})")
    keep, drop = [], []
    for item in items:
        if (isinstance(item, TaskItem) and item.variant not in wanted) or (
                isinstance(item, GateItem) and not item.suite_node.allowed_variants(wanted)):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember each suite's final selection (after -k, -m, --lf, --variant): that is what runs."""
    state = _state(session.config)
    selections: dict[str, Selection] = {}
    for item in session.items:
        if isinstance(item, _EvalItem):
            node = item.suite_node
            selection = selections.setdefault(node.nodeid, Selection(node))
            if isinstance(item, TaskItem):
                selection.pairs.append((item.variant, item.task.id))
            else:
                selection.gate = True
    state.selections = selections


# -- running a suite once -------------------------------------------------------------------------

@dataclass
class Selection:
    """The items of one suite this session selected."""

    node: SuiteCollector
    pairs: list[tuple[str, str]] = field(default_factory=list)
    gate: bool = False


@dataclass
class SuiteRun:
    """A suite's run folder as the items read it (or why there is none)."""

    info: dict[str, Any]
    folder: Path | None = None
    manifest: Any = None
    rows: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, info: dict[str, Any]) -> SuiteRun:
        from harness.core.results import RunFolder

        run = cls(info)
        if info.get("error") or not info.get("run_folder"):
            return run
        folder = RunFolder.open(info["run_folder"])
        run.folder, run.manifest = folder.path, folder.manifest()
        for row in folder.rows():
            run.rows.setdefault((row.variant, row.task_id), []).append(row)
        for rows in run.rows.values():
            rows.sort(key=lambda r: r.epoch)
        return run

    @property
    def error(self) -> str | None:
        return self.info.get("error")

    @property
    def ran(self) -> int:
        return int(self.info.get("ran", 0))

    @property
    def total(self) -> int:
        return int(self.info.get("total", 0))

    @property
    def run_id(self) -> str:
        return self.manifest.run_id if self.manifest else ""

    def why_missing(self) -> str:
        notes = [n for n in (self.manifest.notes if self.manifest else []) if "stopped" in n]
        return notes[-1] if notes else f"no row in {self.folder}"


class EvalSession:
    """Per-process plugin state: options, selections, and suite runs already loaded."""

    def __init__(self, options: EvalOptions, coordinator: Coordinator, *, is_worker: bool, owns_root: bool) -> None:
        self.options = options
        self.coordinator = coordinator
        self.is_worker = is_worker
        self.owns_root = owns_root
        self.selections: dict[str, Selection] = {}
        self.runs: dict[str, SuiteRun] = {}
        self.finished: list[dict[str, Any]] = []

    def run_for(self, node: SuiteCollector) -> SuiteRun:
        """The suite's run for this session: run by this process, or by the worker that got there first."""
        if node.nodeid not in self.runs:
            selection = self.selections.get(node.nodeid) or Selection(node, gate=True)
            info = self.coordinator.once(_file_key(node.nodeid), lambda: self._execute(selection))
            self.runs[node.nodeid] = SuiteRun.load(info)
        return self.runs[node.nodeid]

    def _execute(self, selection: Selection) -> dict[str, Any]:
        node = selection.node
        allowed = node.allowed_variants(self.options.variants)
        full = node.all_pairs(node.suite.variant_names)
        pairs = list(dict.fromkeys(selection.pairs)) or node.all_pairs(allowed)  # --keep-duplicates
        info: dict[str, Any] = {"nodeid": node.nodeid, "suite": node.suite.name, "ran": len(pairs),
                                "total": len(full), "error": None, "run_folder": None}
        try:
            info["run_folder"] = str(self._run_pairs(node, pairs))
        except Exception as exc:  # noqa: BLE001 - every item of the suite reports it, as text
            info["error"] = f"{type(exc).__name__}: {exc}"
            info["traceback"] = traceback.format_exc()[-4000:]
        return info

    def _run_pairs(self, node: SuiteCollector, pairs: list[tuple[str, str]]) -> Path:
        groups = rectangles(pairs, node.suite.variant_names, [t.id for t in node.tasks])
        if len(groups) == 1:
            return self._run_group(node, *groups[0], runs_dir=self.options.runs_dir).path
        parts_dir = self.coordinator.root / "parts" / _file_key(node.nodeid)
        parts, spent = [], 0.0
        for variants, ids in groups:
            part = self._run_group(node, variants, ids, runs_dir=parts_dir, spent=spent)
            spent += float(part.manifest.totals.get("cost_usd", 0.0) or 0.0)
            parts.append(part)
        return combine_parts(parts, self.options.runs_dir, node.suite, len(pairs))

    def _run_group(self, node: SuiteCollector, variants: list[str], ids: list[str], *, runs_dir: Path,
                   spent: float = 0.0) -> Any:
        from harness.engine.runner import RunOptions, run_suite
        from harness.engine.runtime import RuntimeConfig
        from harness.testing.fixtures import run_sync

        o = self.options
        every_task = len(ids) == len(node.tasks)
        every_variant = len(variants) == len(node.suite.variants)
        budget = None if o.max_cost is None else max(0.0, o.max_cost - spent)
        options = RunOptions(
            concurrency=o.concurrency, epochs=o.epochs, record_mode=o.record_mode,
            variants=None if every_variant else variants, ids=() if every_task else ids,
            max_cost_usd=budget, runs_dir=runs_dir, progress=False,
            runtime=RuntimeConfig(base_url=o.base_url, record_mode=o.record_mode, cassette_dir=o.cassettes),
        )
        return run_sync(run_suite(node.suite, options))

    def finish(self) -> None:
        """Controller only: one report per suite run of this session, gates included."""
        for info in self.coordinator.results():
            entry = dict(info)
            if not info.get("error") and info.get("run_folder"):
                try:
                    from harness.report.writer import write_report  # pandas & co only when a suite ran

                    judgement = judge_gates(Path(info["run_folder"]), int(info["ran"]), int(info["total"]),
                                            self.options.baseline)
                    entry.update(gate_exit_code=judgement.exit_code, partial=judgement.partial_line())
                    paths = write_report(info["run_folder"], gates=judgement.report, plots=self.options.plots)
                    entry.update(report=str(paths.markdown))
                except Exception as exc:  # noqa: BLE001 - a report problem must not hide test results
                    entry["report_error"] = f"{type(exc).__name__}: {exc}"
            self.finished.append(entry)


def rectangles(pairs: Sequence[tuple[str, str]], variant_order: Sequence[str],
               task_order: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """Cover exactly ``pairs`` with (variants × task ids) blocks: tasks grouped by their variant set.

    ``run_suite`` selects variants and ids as a cross product; grouping tasks that want the same
    variants gives cross products that hold nothing unselected.
    """
    by_task: dict[str, set[str]] = {}
    for variant, task in pairs:
        by_task.setdefault(task, set()).add(variant)
    groups: dict[frozenset[str], list[str]] = {}
    position = {task: i for i, task in enumerate(task_order)}
    for task in sorted(by_task, key=lambda t: position.get(t, len(position))):
        groups.setdefault(frozenset(by_task[task]), []).append(task)
    rank = {name: i for i, name in enumerate(variant_order)}
    return [(sorted(variants, key=lambda v: rank.get(v, len(rank))), tasks) for variants, tasks in groups.items()]


def combine_parts(parts: Sequence[Any], runs_dir: Path, suite: Suite, selected: int) -> Path:
    """One run folder from rectangular parts of one suite run (variant sets may differ, unlike shards)."""
    from harness.core.clock import utc_now
    from harness.core.results import ResultWriter, RunFolder, new_run_id

    manifests = [part.manifest for part in parts]
    first = manifests[0]
    rank = {name: i for i, name in enumerate(suite.variant_names)}
    variants = {v.name: v for m in manifests for v in m.variants}
    rows = [row for part in parts for row in part.folder.rows()]
    ids = sorted({row.task_id for row in rows} | {i for m in manifests for i in m.dataset.get("ids", [])})
    totals: dict[str, float] = {}
    for manifest in manifests:
        for key, value in manifest.totals.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    statuses = [m.status for m in manifests if m.status != "complete"]
    merged = first.model_copy(update={
        "run_id": new_run_id(suite.name),
        "finished_at": utc_now(),
        "status": statuses[0] if statuses else "complete",
        "variants": sorted(variants.values(), key=lambda v: rank.get(v.name, len(rank))),
        "dataset": first.dataset | {"tasks": len(ids), "ids": ids},
        "totals": totals,
        "notes": [*first.notes, f"pytest selection of {selected} (variant, task) items, run as {len(parts)} parts"],
    })
    folder = RunFolder.create(runs_dir, merged)
    writer = ResultWriter(folder.results_path)
    try:
        for row in sorted(rows, key=lambda r: (rank.get(r.variant, len(rank)), r.task_id, r.epoch)):
            writer.write(row.model_copy(update={"run_id": merged.run_id}))
    finally:
        writer.close()
    return folder.path


def _file_key(nodeid: str) -> str:
    """A file name for a suite's node id: readable, and unique by a hash."""
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in nodeid)[-60:]
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


class Coordinator:
    """Runs each suite once per session, in whichever process (xdist worker) reaches it first.

    A lock file (``O_EXCL``) names the process running a suite; the result (a small JSON file
    pointing at the run folder) is published atomically. Waiters poll for it and take over if the
    lock's process has died without publishing.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def once(self, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        done, lock = self.root / f"{key}.json", self.root / f"{key}.lock"
        while True:
            if done.is_file():
                return json.loads(done.read_text(encoding="utf-8"))
            if self._acquire(lock):
                try:
                    info = work()
                except BaseException as exc:  # interrupted: tell the waiters, then go on unwinding
                    self._publish(done, {"error": f"the suite run was interrupted ({type(exc).__name__})"})
                    raise
                self._publish(done, info)
                return info
            if self._abandoned(lock, done):
                lock.unlink(missing_ok=True)
                continue
            time.sleep(POLL_S)

    def results(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.root.glob("*.json"))]

    @staticmethod
    def _acquire(lock: Path) -> bool:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w") as out:
            out.write(str(os.getpid()))
        return True

    @staticmethod
    def _abandoned(lock: Path, done: Path) -> bool:
        try:
            pid = int(lock.read_text() or "0")
        except (OSError, ValueError):
            return False
        if pid <= 0 or done.is_file():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    @staticmethod
    def _publish(path: Path, info: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, path)


# -- gates ----------------------------------------------------------------------------------------

_EXIT_WORDS = {0: "all gates pass", 1: "a gate failed", 2: "gate configuration error", 3: "run incomplete"}


@dataclass
class GateJudgement:
    """The gate report of what ran, with the gates skipped because their variants did not run."""

    report: Any
    skipped: list[str]
    ran: int
    total: int

    @property
    def exit_code(self) -> int:
        return int(self.report.exit_code)

    def partial_line(self) -> str | None:
        if self.ran >= self.total:
            return None
        return (f"partial: {self.ran} of {self.total} tasks ran (-k/--lf/--variant selection); "
                "the gates judge only what ran")

    def text(self, title: str, folder: Path | None) -> str:
        verdict = "PASS" if self.exit_code == 0 else "FAIL"
        lines = [(f"{title}: {verdict} (exit {self.exit_code}: {_EXIT_WORDS.get(self.exit_code, '?')}), "
                  f"run {self.report.run_id}")]
        if (partial := self.partial_line()) is not None:
            lines.append(partial)
        lines += list(self.report.problems)
        lines += [r.message for r in self.report.results if r.message not in self.report.problems]
        lines += self.skipped
        if not self.report.results and not self.skipped:
            lines.append("no gates declared; checked only that the run is complete")
        lines.append(f"run folder: {folder}")
        return "\n".join(lines)


def judge_gates(folder: Path | None, ran: int, total: int, baseline: Path | None) -> GateJudgement:
    """Evaluate the run's gates; on a partial run, skip gates about variants that did not run."""
    from pydantic import ValidationError

    from harness.core.results import RunFolder
    from harness.gate import NoRegressionGate, evaluate_gates, parse_gates

    assert folder is not None
    manifest = RunFolder.open(folder).manifest()
    try:
        specs: list[Any] | None = parse_gates(manifest.gates)
    except ValidationError:
        specs = None  # evaluate_gates reports it as a configuration error
    skipped: list[str] = []
    if specs is not None and ran < total:
        ran_variants = {v.name for v in manifest.variants}
        kept = []
        for spec in specs:
            needed = {spec.variant} if spec.variant else set()
            if isinstance(spec, NoRegressionGate) and (spec.baseline_variant or (baseline is None and not spec.baseline)):
                needed.add(spec.baseline_variant or manifest.baseline_variant)
            missing = sorted(n for n in needed if n and n not in ran_variants)
            if missing:
                skipped.append(f"SKIP {spec.describe()}: variant {', '.join(missing)} not selected in this session")
            else:
                kept.append(spec)
        specs = kept
    report = evaluate_gates(folder, gates=specs, baseline=baseline)
    return GateJudgement(report=report, skipped=skipped, ran=ran, total=total)


# -- session end ----------------------------------------------------------------------------------

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if not state.is_worker:
        state.finish()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    if state.is_worker or not state.finished:
        return
    terminalreporter.write_sep("=", "harness evals")
    for entry in state.finished:
        terminalreporter.write_line(_summary_line(entry))


def _summary_line(entry: dict[str, Any]) -> str:
    head = f"{entry.get('suite')}: "
    if entry.get("error"):
        return head + f"could not run: {entry['error']}"
    parts = [f"{entry.get('ran')} of {entry.get('total')} tasks", f"run {entry.get('run_folder')}"]
    if "gate_exit_code" in entry:
        code = int(entry["gate_exit_code"])
        parts.append(f"gates {'PASS' if code == 0 else 'FAIL'} (exit {code}: {_EXIT_WORDS.get(code, '?')})")
    if entry.get("partial"):
        parts.append(entry["partial"])
    if entry.get("report"):
        parts.append(f"report {entry['report']}")
    if entry.get("report_error"):
        parts.append(f"report not written: {entry['report_error']}")
    return head + " · ".join(parts)
