"""Code graders: matching, substrings, regex, numbers, JSON, schemas, models, fields, python()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from harness.core.dataset import Task
from harness.core.grading import jsonable_params, metric_name
from harness.graders import (
    MISSING,
    Attempt,
    ExpectedValueMissing,
    GraderConfigError,
    Score,
    contains,
    contains_all,
    contains_any,
    exact_match,
    fields,
    json_schema,
    json_valid,
    normalized_match,
    not_contains,
    numeric,
    pydantic_model,
    python,
    regex,
)
from harness.graders.text import extract_numbers


def attempt(output: Any, expected: Any = None, task_id: str = "t1") -> Attempt:
    return Attempt(task=Task(id=task_id, input="question", expected=expected), output=output)


def score(grader: Any, output: Any, expected: Any = None) -> Score:
    return asyncio.run(grader(attempt(output, expected)))


# -- exact and normalised matching ----------------------------------------------------------------

def test_exact_match_is_character_exact_unless_stripped() -> None:
    assert score(exact_match("Paris"), "Paris").passed
    assert not score(exact_match("Paris"), "paris").passed
    assert not score(exact_match("Paris"), " Paris\n").passed
    assert score(exact_match("Paris", strip=True), " Paris\n").passed


def test_exact_match_compares_structured_outputs_as_data() -> None:
    assert score(exact_match({"a": 1, "b": [1, 2]}), '{"b": [1, 2], "a": 1}').passed
    assert score(exact_match({"a": 1}), {"a": 1}).passed
    failed = score(exact_match({"a": 1}), {"a": 2})
    assert not failed.passed and "expected" in failed.reason


def test_normalized_match_ignores_case_whitespace_punctuation_and_unicode_forms() -> None:
    grader = normalized_match("Straße, 42!")
    assert score(grader, "  STRASSE   42 ").passed  # casefold: ß -> ss
    assert score(normalized_match("42 km"), "４２\u00a0ｋｍ").passed  # full-width and NBSP via NFKC
    assert not score(normalized_match("café"), "cafe").passed  # accents are not punctuation


def test_normalized_match_switches_and_alternatives() -> None:
    strict_case = normalized_match("Paris", casefold=False)
    assert not score(strict_case, "paris").passed
    keep_punct = normalized_match("yes", punctuation=False)
    assert not score(keep_punct, "yes!").passed
    alternatives = normalized_match(["yes", "correct"])
    assert score(alternatives, "Correct.").passed
    assert not score(alternatives, "no").passed


def test_empty_output_is_text_empty_and_fails_matches() -> None:
    assert not score(normalized_match("x"), None).passed
    assert not score(contains("x"), "").passed
    assert score(not_contains("x"), None).passed


# -- substrings -----------------------------------------------------------------------------------

def test_contains_family() -> None:
    text = "Your REFUND will arrive in 5 days."
    assert score(contains("refund"), text).passed
    assert not score(contains("refund", case_sensitive=True), text).passed
    assert score(contains_any(["credit", "refund"]), text).passed
    assert not score(contains_any(["credit", "voucher"]), text).passed
    partial = score(contains_all(["refund", "5 days", "email"]), text)
    assert not partial.passed and partial.value == pytest.approx(2 / 3)
    assert "'email'" in partial.reason
    forbidden = score(not_contains(["sorry", "days"]), text)
    assert not forbidden.passed and "'days'" in forbidden.reason


def test_contains_with_unicode_normalisation() -> None:
    assert not score(contains("abc 12"), "ＡＢＣ\u00a012").passed  # full-width letters, a no-break space...
    assert score(contains("abc 12", normalize=True), "ＡＢＣ\u00a012").passed  # ...are plain once NFKC applies


def test_values_from_the_task_expected() -> None:
    grader = contains_all(from_expected="must_include")
    assert score(grader, "refund in 5 days", {"must_include": ["refund", "5 days"]}).passed
    nested = contains(from_expected="answer.city")
    assert score(nested, "It is Paris.", {"answer": {"city": "Paris"}}).passed
    indexed = contains(from_expected="facts.1")
    assert score(indexed, "blue sky", {"facts": ["red", "blue"]}).passed


def test_missing_expected_key_is_a_grader_error_naming_task_and_key() -> None:
    grader = contains_all(from_expected="must_include")
    with pytest.raises(ExpectedValueMissing, match=r"task 't1'.*must_include"):
        score(grader, "anything", {"other": 1})
    with pytest.raises(ExpectedValueMissing, match="expected is NoneType"):
        score(grader, "anything", None)


def test_default_makes_an_expected_key_optional() -> None:
    grader = contains_all(from_expected="must_include", default=[])
    result = score(grader, "anything", {})
    assert result.passed and result.reason == "nothing required"
    assert MISSING is not None and not MISSING


def test_literal_and_from_expected_are_exclusive_and_one_is_required() -> None:
    with pytest.raises(GraderConfigError, match="not both"):
        contains("a", from_expected="b")
    with pytest.raises(GraderConfigError, match="nothing to compare"):
        contains()


def test_bad_needles_fail_at_construction() -> None:
    with pytest.raises(GraderConfigError, match="empty string"):
        contains("")
    with pytest.raises(GraderConfigError, match="empty"):
        contains_all([])
    with pytest.raises(GraderConfigError, match="list of strings"):
        contains_any([1, 2])  # type: ignore[list-item]


def test_wrong_type_from_the_task_is_a_grader_error() -> None:
    with pytest.raises(ValueError, match="list of strings"):
        score(contains_all(from_expected="k"), "x", {"k": 3})


# -- regex ----------------------------------------------------------------------------------------

def test_regex_modes_and_flags() -> None:
    assert score(regex(r"ORD-\d{4}"), "order ORD-1234 shipped").passed
    assert not score(regex(r"ORD-\d{4}", mode="fullmatch"), "order ORD-1234 shipped").passed
    assert score(regex(r"ord-\d+", ignore_case=True, mode="match"), "ORD-1 ok").passed
    assert score(regex(r"^b$", multiline=True), "a\nb\nc").passed
    result = score(regex(r"\d+"), "abc")
    assert not result.passed and "no search" in result.reason


def test_bad_regex_fails_at_construction_before_any_run() -> None:
    with pytest.raises(GraderConfigError, match="invalid regular expression"):
        regex("(unclosed")
    with pytest.raises(GraderConfigError, match="mode"):
        regex("a", mode="anywhere")  # type: ignore[arg-type]


def test_regex_from_the_task_compiles_per_task() -> None:
    assert score(regex(from_expected="pattern"), "id A-7", {"pattern": r"A-\d"}).passed
    with pytest.raises(ValueError, match="invalid regular expression"):
        score(regex(from_expected="pattern"), "x", {"pattern": "("})


# -- numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "numbers"), [
    ("The total is $1,234.50.", [1234.5]),
    ("-3 and +4 and .5", [-3.0, 4.0, 0.5]),
    ("6.02e23 atoms", [6.02e23]),
    ("order A1 costs 20", [20.0]),  # digits glued to letters are identifiers, not numbers
    ("\u22125 degrees", [-5.0]),  # Unicode minus
    ("４２", [42.0]),  # full-width digits
    ("1,23", [1.0, 23.0]),
    ("no numbers here", []),
])
def test_number_extraction(text: str, numbers: list[float]) -> None:
    assert extract_numbers(text) == numbers


def test_numeric_tolerances_and_picking() -> None:
    assert score(numeric(42), "The answer is 42.").passed
    assert score(numeric(42), 42).passed
    assert not score(numeric(42), "The answer is 41.9").passed
    assert score(numeric(42, abs_tol=0.1), "The answer is 41.95").passed
    assert score(numeric(1000, rel_tol=0.01), "about 1,009").passed
    assert not score(numeric(1000, rel_tol=0.01), "about 1,011").passed
    assert score(numeric(3, pick="first"), "3 apples, then 5").passed
    assert not score(numeric(3), "3 apples, then 5").passed  # last by default
    only = score(numeric(3, pick="only"), "3 apples, then 5")
    assert not only.passed and "several numbers" in only.reason
    assert not score(numeric(3), "no digits").passed
    assert score(numeric(from_expected="total"), "total: 12.5", {"total": 12.5}).passed


def test_numeric_config_errors() -> None:
    with pytest.raises(GraderConfigError):
        numeric(1, abs_tol=-1)
    with pytest.raises(GraderConfigError):
        numeric("ten")  # type: ignore[arg-type]


# -- JSON, schemas, models, fields ----------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^A\\d+$"}, "amount": {"type": "number", "minimum": 0}},
    "required": ["order_id", "amount"],
}


def test_json_valid() -> None:
    assert score(json_valid(), '{"a": 1}').passed
    assert score(json_valid(), {"a": 1}).passed
    bad = score(json_valid(), '{"a": 1')
    assert not bad.passed and "not valid JSON" in bad.reason
    fenced = '```json\n{"a": 1}\n```'
    assert not score(json_valid(), fenced).passed
    assert score(json_valid(strip_code_fences=True), fenced).passed
    assert not score(json_valid(), "").passed


def test_json_schema_validation_and_reasons() -> None:
    grader = json_schema(SCHEMA)
    assert score(grader, '{"order_id": "A1", "amount": 3.5}').passed
    bad = score(grader, {"order_id": "B1", "amount": -1})
    assert not bad.passed
    assert "$.amount" in bad.reason and "$.order_id" in bad.reason
    assert not score(grader, "not json").passed


def test_bad_schema_fails_at_construction() -> None:
    with pytest.raises(GraderConfigError, match="invalid JSON schema"):
        json_schema({"type": "objekt"})
    with pytest.raises(GraderConfigError):
        json_schema({"properties": {"a": {"minimum": "zero"}}})


class Refund(BaseModel):
    order_id: str
    amount: float


def test_pydantic_model() -> None:
    grader = pydantic_model(Refund)
    assert score(grader, '{"order_id": "A1", "amount": 2}').passed
    assert score(grader, Refund(order_id="A1", amount=2)).passed
    bad = score(grader, {"order_id": "A1"})
    assert not bad.passed and "amount" in bad.reason
    assert not score(pydantic_model(Refund, strict=True), {"order_id": "A1", "amount": "2"}).passed
    with pytest.raises(GraderConfigError):
        pydantic_model(dict)  # type: ignore[arg-type]
    assert grader.id == "pydantic_model(model=Refund)"


def test_fields_scores_the_fraction_of_matching_fields() -> None:
    output = {"customer": {"name": "Ann", "tier": "gold"}, "total": 10.004, "items": ["a", "b"]}
    grader = fields({"customer": {"name": "Ann", "tier": "silver"}, "total": 10, "items": ["a", "b"], "note": "x"},
                    abs_tol=0.01)
    result = score(grader, output)
    assert result.value == pytest.approx(3 / 5) and not result.passed
    assert "customer.tier: expected 'silver', got 'gold'" in result.reason
    assert "note: missing" in result.reason
    assert score(fields({"customer.name": "ann"}, normalize=True), output).passed
    assert score(fields({"total": 10, "items": ["a"]}, abs_tol=0.01, pass_at=0.5), output).passed
    assert score(fields(from_expected="fields"), '{"a": 1}', {"fields": {"a": 1}}).passed
    assert not score(fields({"a": 1}), "not json").passed
    with pytest.raises(GraderConfigError):
        fields({})


# -- python() -------------------------------------------------------------------------------------

def test_python_wraps_sync_and_async_functions_returning_bool_number_or_score() -> None:
    def is_short(a: Attempt) -> bool:
        return len(a.output_text) < 10

    async def half(a: Attempt) -> float:
        return 0.5

    def explained(a: Attempt) -> Score:
        return Score(value=0.9, passed=True, reason="fine")

    assert score(python(is_short), "short").passed
    assert score(python(half), "x").value == 0.5
    assert score(python(explained), "x").reason == "fine"
    assert python(is_short).id == "python(fn=is_short)"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score(python(lambda a: 7), "x")
    with pytest.raises(GraderConfigError):
        python("not callable")  # type: ignore[arg-type]


def test_params_are_recorded_as_json() -> None:
    grader = contains_all(["a", "b"], case_sensitive=True)
    assert grader.id == 'contains_all(texts=["a", "b"], case_sensitive=true)'
    assert jsonable_params(grader.params) == {"texts": ["a", "b"], "case_sensitive": True}
    assert jsonable_params(python(len).params) == {"fn": "len"}


def test_metric_name_is_always_text() -> None:
    class Unnamed:  # a grader object whose name was never set: no row could hold a None metric name
        alias = None
        id = None
        name = None

    assert metric_name(contains("a").named("has_a")) == "has_a"
    assert metric_name(contains("a")) == contains("a").id
    assert metric_name(Unnamed()) == "grader"
    assert metric_name(object()) == "grader"
