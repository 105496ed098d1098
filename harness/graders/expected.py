"""Where a grader's reference value comes from: a literal, or a path into ``task.expected``.

Every grader that compares against something takes either the value itself or
``from_expected="key.path"``, so one suite-level grader serves every task of a dataset whose
rows carry their own expectations::

    contains_all(["refund", "5 days"])          # the same for every task
    contains_all(from_expected="must_include")  # task.expected["must_include"], per task

A task that lacks the key is a *grader error*, not a pass and not a fail: silently passing would
hide a broken dataset, and failing would blame the model for it. Pass ``default=`` to make the
key optional (``default=[]`` for "nothing required unless the task says so").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, final

from harness.core.grading import Attempt, GraderConfigError

__all__ = ["MISSING", "ExpectedValueMissing", "lookup_path", "resolve_expected", "reference_source",
           "Reference"]


@final
class _Missing:
    """Sentinel for "no default given" (``None`` is a legitimate default)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class ExpectedValueMissing(ValueError):
    """A task's ``expected`` lacks the key a grader reads with ``from_expected``."""


def lookup_path(data: Any, path: str) -> Any:
    """``data`` at a dotted path (``"tools.0.name"``); ``""`` or ``"."`` is ``data`` itself.

    Integer segments index lists. Raises ``KeyError`` naming the first segment not found.
    """
    if path in ("", "."):
        return data
    node = data
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        node = _step(node, part, ".".join(walked))
    return node


def _step(node: Any, part: str, where: str) -> Any:
    if isinstance(node, dict):
        if part in node:
            return node[part]
        raise KeyError(where)
    if isinstance(node, list | tuple) and _is_index(part):
        index = int(part)
        if -len(node) <= index < len(node):
            return node[index]
    raise KeyError(where)


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def resolve_expected(attempt: Attempt, path: str, default: Any = MISSING) -> Any:
    """``attempt.task.expected`` at ``path``, or ``default``; a missing key without one raises."""
    try:
        return lookup_path(attempt.task.expected, path)
    except KeyError as exc:
        if default is not MISSING:
            return default
        have = sorted(attempt.task.expected) if isinstance(attempt.task.expected, dict) else None
        shown = f"its expected keys are {have}" if have is not None else (
            f"its expected is {type(attempt.task.expected).__name__}")
        raise ExpectedValueMissing(
            f"task '{attempt.task.id}' has no expected value at '{path}' ({exc.args[0]!r} not found; {shown}); "
            f"add it to the dataset row or give the grader default=..."
        ) from None


Reference = Callable[[Attempt], Any]


def reference_source(grader_name: str, literal: Any, from_expected: str | None,
                     default: Any = MISSING, *, literal_name: str = "expected") -> Reference:
    """A function giving the reference value for an attempt; checks the choice at construction.

    Exactly one of the literal and ``from_expected`` must be given: both would be ambiguous, and
    neither leaves nothing to compare with.
    """
    if from_expected is not None and literal is not None:
        raise GraderConfigError(
            f"{grader_name}: give either {literal_name}=... or from_expected=..., not both")
    if from_expected is None and literal is None:
        raise GraderConfigError(
            f"{grader_name}: nothing to compare with; give {literal_name}=... or from_expected='key.path'")
    if from_expected is not None and not isinstance(from_expected, str):
        raise GraderConfigError(f"{grader_name}: from_expected must be a dotted key path string")
    if from_expected is None:
        return lambda attempt: literal
    path = from_expected
    return lambda attempt: resolve_expected(attempt, path, default)
