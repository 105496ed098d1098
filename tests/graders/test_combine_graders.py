"""Composite graders: verdicts, child ids in params, child scores in metadata, child errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.core.dataset import Task
from harness.core.grading import jsonable_params
from harness.graders import (
    Attempt,
    ChildGraderError,
    GraderConfigError,
    Score,
    all_of,
    any_of,
    contains,
    python,
    threshold,
    weighted_mean,
)


def run(grader: Any, output: Any = "refund in 5 days") -> Score:
    return asyncio.run(grader(Attempt(task=Task(id="t", input="q"), output=output)))


has_refund = contains("refund")
has_sorry = contains("sorry")


def test_all_of_and_any_of() -> None:
    both = run(all_of([has_refund, has_sorry]))
    assert not both.passed and both.value == 0.0
    assert "contains(text=\"sorry\")" in both.reason
    either = run(any_of([has_refund, has_sorry]))
    assert either.passed and either.value == 1.0
    assert run(all_of([has_refund, contains("days")])).passed


def test_children_are_recorded_in_params_and_metadata() -> None:
    grader = all_of([has_refund, has_sorry])
    assert grader.id == 'all_of(graders=[contains(text="refund"), contains(text="sorry")])'
    assert jsonable_params(grader.params) == {"graders": ['contains(text="refund")', 'contains(text="sorry")']}
    children = run(grader).metadata["children"]
    assert [c["grader"] for c in children] == ['contains(text="refund")', 'contains(text="sorry")']
    assert [c["passed"] for c in children] == [True, False]


def test_weighted_mean() -> None:
    grader = weighted_mean([has_refund, has_sorry], [3, 1])
    result = run(grader)
    assert result.value == pytest.approx(0.75) and result.passed
    assert not run(weighted_mean([has_refund, has_sorry], [1, 3])).passed
    assert run(weighted_mean([has_refund, has_sorry])).value == pytest.approx(0.5)
    assert not run(weighted_mean([has_refund, has_sorry], pass_at=0.6)).passed


@pytest.mark.parametrize("weights", [[1], [1, -1], [0, 0], [1, float("nan")]])
def test_bad_weights_fail_at_construction(weights: list[float]) -> None:
    with pytest.raises(GraderConfigError):
        weighted_mean([has_refund, has_sorry], weights)


def test_threshold() -> None:
    half = python(lambda a: 0.5)
    assert run(threshold(half, 0.5)).passed
    result = run(threshold(half, 0.6))
    assert not result.passed and result.value == 0.5
    with pytest.raises(GraderConfigError):
        threshold(half, 1.5)


def test_empty_or_non_grader_children_fail_at_construction() -> None:
    with pytest.raises(GraderConfigError):
        all_of([])
    with pytest.raises(GraderConfigError):
        any_of([has_refund, "contains"])  # type: ignore[list-item]
    with pytest.raises(GraderConfigError, match="list of graders"):
        all_of(has_refund)  # type: ignore[arg-type]


def test_a_child_error_makes_the_composite_a_grader_error_naming_the_child() -> None:
    def broken(a: Attempt) -> bool:
        raise RuntimeError("boom")

    with pytest.raises(ChildGraderError, match=r"python\(fn=broken\) failed: RuntimeError: boom"):
        run(all_of([has_refund, python(broken)]))


def test_composites_nest_and_keep_aliases() -> None:
    inner = any_of([has_sorry, has_refund]).named("polite_or_useful")
    outer = all_of([inner, contains("days")])
    assert "polite_or_useful" in outer.id
    assert run(outer).passed
