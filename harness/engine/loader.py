"""Finding suites: every :class:`~harness.engine.suite.Suite` defined at module level in a file.

``harness run evals/test_triage.py`` and the pytest plugin both come through here, so a suite
file means the same thing to both.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from harness.core.gate_spec import GateConfigError, gate_problems
from harness.core.grading import metric_name
from harness.engine.suite import Suite, SuiteError

__all__ = ["load_suites", "suites_in_module", "find_suite", "check_gates"]


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"harness_suite_{path.stem}_{digest}"


def _import(path: Path) -> ModuleType:
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SuiteError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def suites_in_module(module: ModuleType, path: Path | None = None) -> list[Suite]:
    """The suites a module defines at top level, in definition order, tagged with their file.

    Each suite's gates are checked here (:func:`harness.gate.check_suite_gates`), so a gate
    that could never be evaluated stops ``harness run`` and pytest before any task runs.
    """
    found = []
    for value in vars(module).values():
        if isinstance(value, Suite) and value not in found:
            if path is not None:
                value.root = value.root or path.resolve().parent
                value.metadata.setdefault("file", str(path))
            found.append(value)
    for suite in found:
        check_gates(suite)
    return found


def check_gates(suite: Suite) -> None:
    """Refuse a suite whose gates could never be evaluated, before anything runs.

    Unknown metrics, a no-regression gate on a metric with no per-task value, ``judge_kappa``
    without calibration sets, unknown variants: every one is a :class:`GateConfigError` raised
    when the suite loads (``harness run`` exits 2, pytest reports a collection error), listed
    together, instead of a configuration error after the whole run.
    """
    if not suite.gates:
        return
    scores = {metric_name(g) for g in suite.graders}
    problems = [f"{where}: {problem}" for where, problem in gate_problems(
        suite.gates, scores=scores, variants=suite.variant_names, calibrated=set(suite.calibration))]
    if problems:
        raise GateConfigError(f"suite '{suite.name}' declares gates that cannot be evaluated:\n"
                              + "\n".join(f"  {p}" for p in problems))


def load_suites(path: str | Path) -> list[Suite]:
    """Import a suite file by path and return its suites."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"no suite file at {path}")
    return suites_in_module(_import(path), path)


def find_suite(path: str | Path, name: str | None = None) -> Suite:
    """The one suite in a file, or the one called ``name``."""
    suites = load_suites(path)
    if not suites:
        raise SuiteError(f"{path} defines no Suite at module level")
    if name is None:
        if len(suites) > 1:
            names = ", ".join(s.name for s in suites)
            raise SuiteError(f"{path} defines several suites ({names}); choose one with --suite")
        return suites[0]
    for suite in suites:
        if suite.name == name:
            return suite
    raise SuiteError(f"{path} has no suite named '{name}' (has: {', '.join(s.name for s in suites)})")
