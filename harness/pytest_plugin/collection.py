"""Collection: a module-level Suite becomes suite -> variant -> task items, plus one gate item."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.engine.loader import suites_in_module
from harness.engine.suite import Suite
from harness.pytest_plugin.gates import judge_gates
from harness.pytest_plugin.options import k_safe
from harness.pytest_plugin.session import Selection, SuiteRun, session_state
from harness.testing.fixtures import TaskVerdict, describe_rows, row_verdicts

__all__ = ["SuiteCollector", "VariantCollector", "TaskItem", "GateItem", "EvalFailure", "make_suite_collector",
           "deselect_variants", "remember_selections"]

_MODULE_SUITES = pytest.StashKey[list[Suite]]()
_SEEN_SUITES = pytest.StashKey[set[int]]()


def make_suite_collector(collector: pytest.Collector, obj: object) -> Any:
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
        items: list[pytest.Item] = []
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
        run = session_state(self.config).run_for(self.suite_node)
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
        state = session_state(self.config)
        judgement = judge_gates(run.folder, run.ran, run.total, state.options.baseline)
        text = judgement.text(f"{self.suite_node.suite.name}::gates", run.folder)
        self.user_properties.append(("harness.run_id", run.run_id))
        self.user_properties.append(("harness.gate_exit_code", str(judgement.exit_code)))
        if judgement.exit_code != 0:
            raise EvalFailure(text)
        self.add_report_section("call", "harness", text)


def deselect_variants(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--variant``: deselect other variants' items (and the gates of suites with none of them)."""
    wanted = session_state(config).options.variants
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


def remember_selections(session: pytest.Session) -> None:
    """Remember each suite's final selection (after -k, -m, --lf, --variant): that is what runs."""
    state = session_state(session.config)
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
