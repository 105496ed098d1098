"""Code graders: deterministic checks of an attempt's output, no model involved.

Each factory is decorated with :func:`~harness.core.grading.grader`, so the grader's id records
exactly what it checks (``contains_all(texts=["refund"])``). Settings that cannot work — a bad
regex, an invalid JSON schema, an empty needle — raise :class:`GraderConfigError` when the grader
is *built*, so a typo fails the suite at import time rather than as a thousand grader errors.

Reference values come from a literal or from the task (``from_expected="key.path"``, see
:mod:`harness.graders.expected`).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ValidationError

from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.graders.expected import MISSING, lookup_path, reference_source
from harness.graders.matching import flatten_expected
from harness.graders.text import Normalization, NotJSON, extract_numbers, parse_structured, shorten

__all__ = [
    "exact_match", "normalized_match", "contains", "contains_any", "contains_all", "not_contains",
    "regex", "numeric", "json_valid", "json_schema", "pydantic_model", "fields", "python",
]


# -- equality -------------------------------------------------------------------------------------

@grader
def exact_match(expected: Any = None, *, from_expected: str | None = None, default: Any = MISSING,
                strip: bool = False) -> ScoreFn:
    """The output equals the expected value exactly.

    Text is compared character for character (``strip=True`` ignores surrounding whitespace);
    structured outputs (dicts, lists, numbers) are compared as data.
    """
    reference = reference_source("exact_match", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        want = reference(attempt)
        if isinstance(want, str):
            got = attempt.output_text
            same = got.strip() == want.strip() if strip else got == want
        else:
            got = parse_or_raw(attempt.output)
            same = got == want
        return Score.of(same, "exact match" if same else f"expected {shorten(want)}, got {shorten(got)}")

    return score


def parse_or_raw(output: Any) -> Any:
    """Structured form of an output if it has one (JSON text parsed), else the output itself."""
    try:
        return parse_structured(output)
    except NotJSON:
        return output


@grader
def normalized_match(expected: str | Sequence[str] | None = None, *, from_expected: str | None = None,
                     default: Any = MISSING, casefold: bool = True, whitespace: bool = True,
                     punctuation: bool = True, unicode: bool = True) -> ScoreFn:
    """The output equals the expected text once the ignored differences are removed.

    A list of strings is a set of acceptable answers (any one matches). By default case
    (casefold), whitespace runs, punctuation and Unicode compatibility forms (NFKC) are ignored;
    switch each off by name.
    """
    reference = reference_source("normalized_match", expected, from_expected, default)
    how = Normalization(casefold=casefold, whitespace=whitespace, punctuation=punctuation, unicode=unicode)
    if isinstance(expected, list | tuple) and not expected:
        raise GraderConfigError("normalized_match: the list of acceptable answers is empty")

    def score(attempt: Attempt) -> Score:
        answers = _strings(reference(attempt), "normalized_match", attempt)
        got = how.apply(attempt.output_text)
        for answer in answers:
            if how.apply(answer) == got:
                return Score.of(True, f"matches {shorten(answer)} after normalisation")
        shown = " or ".join(shorten(a) for a in answers)
        return Score.of(False, f"expected {shown}, got {shorten(attempt.output_text)} (normalised: {shorten(got)})")

    return score


def _strings(value: Any, grader_name: str, attempt: Attempt) -> list[str]:
    """A reference that must be text or a list of texts, as a list (other types are a grader error)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"{grader_name}: task '{attempt.task.id}': the reference must be a string or a "
                         f"list of strings, got {type(value).__name__} {shorten(value)}")
    return list(items)


# -- substrings -----------------------------------------------------------------------------------

def _finder(case_sensitive: bool, normalize: bool) -> Callable[[str], str]:
    """How both needle and haystack are prepared before ``in``."""
    how = Normalization(casefold=not case_sensitive, whitespace=normalize, punctuation=False, unicode=normalize)
    if normalize:
        return how.apply
    return (lambda text: text) if case_sensitive else str.casefold


def _check_needles(grader_name: str, texts: Any) -> None:
    """Empty needles match everything: a config error when given literally."""
    if texts is None:
        return
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise GraderConfigError(f"{grader_name}: expected a string or a list of strings, got {texts!r}")
    if not items:
        raise GraderConfigError(f"{grader_name}: the list of texts is empty")
    if any(t == "" for t in items):
        raise GraderConfigError(f"{grader_name}: an empty string is contained in every output; remove it")


def _found(attempt: Attempt, needles: list[str], prepare: Callable[[str], str]) -> tuple[list[str], list[str]]:
    haystack = prepare(attempt.output_text)
    hits = [n for n in needles if prepare(n) in haystack]
    return hits, [n for n in needles if n not in hits]


@grader
def contains(text: str | None = None, *, from_expected: str | None = None, default: Any = MISSING,
             case_sensitive: bool = False, normalize: bool = False) -> ScoreFn:
    """The output contains ``text`` (case-insensitive unless ``case_sensitive``).

    ``normalize=True`` also ignores Unicode compatibility forms and whitespace runs.
    """
    _check_needles("contains", text)
    reference = reference_source("contains", text, from_expected, default, literal_name="text")
    prepare = _finder(case_sensitive, normalize)

    def score(attempt: Attempt) -> Score:
        needle = reference(attempt)
        if not isinstance(needle, str):
            raise ValueError(f"contains: task '{attempt.task.id}': expected a string to look for, got "
                             f"{type(needle).__name__}; use contains_all/contains_any for lists")
        hits, _ = _found(attempt, [needle], prepare)
        return Score.of(bool(hits), f"contains {shorten(needle)}" if hits else f"does not contain {shorten(needle)}")

    return score


@grader
def contains_any(texts: Sequence[str] | None = None, *, from_expected: str | None = None,
                 default: Any = MISSING, case_sensitive: bool = False, normalize: bool = False) -> ScoreFn:
    """The output contains at least one of ``texts``."""
    _check_needles("contains_any", texts)
    reference = reference_source("contains_any", texts, from_expected, default, literal_name="texts")
    prepare = _finder(case_sensitive, normalize)

    def score(attempt: Attempt) -> Score:
        needles = _strings(reference(attempt), "contains_any", attempt)
        hits, _ = _found(attempt, needles, prepare)
        if hits:
            return Score.of(True, f"contains {shorten(hits[0])}", found=hits)
        return Score.of(False, "contains none of " + ", ".join(shorten(n) for n in needles), found=[])

    return score


@grader
def contains_all(texts: Sequence[str] | None = None, *, from_expected: str | None = None,
                 default: Any = MISSING, case_sensitive: bool = False, normalize: bool = False) -> ScoreFn:
    """The output contains every one of ``texts``; the value is the fraction found.

    An empty list from the task (``default=[]``) passes: nothing was required.
    """
    _check_needles("contains_all", texts)
    reference = reference_source("contains_all", texts, from_expected, default, literal_name="texts")
    prepare = _finder(case_sensitive, normalize)

    def score(attempt: Attempt) -> Score:
        needles = _strings(reference(attempt), "contains_all", attempt)
        if not needles:
            return Score.of(True, "nothing required")
        hits, missing = _found(attempt, needles, prepare)
        value = len(hits) / len(needles)
        reason = "contains all" if not missing else "missing " + ", ".join(shorten(m) for m in missing)
        return Score(value=value, passed=not missing, reason=reason, metadata={"missing": missing})

    return score


@grader
def not_contains(texts: str | Sequence[str] | None = None, *, from_expected: str | None = None,
                 default: Any = MISSING, case_sensitive: bool = False, normalize: bool = False) -> ScoreFn:
    """The output contains none of ``texts`` (one string or a list): forbidden phrases, leaked secrets."""
    _check_needles("not_contains", texts)
    reference = reference_source("not_contains", texts, from_expected, default, literal_name="texts")
    prepare = _finder(case_sensitive, normalize)

    def score(attempt: Attempt) -> Score:
        needles = _strings(reference(attempt), "not_contains", attempt)
        hits, _ = _found(attempt, needles, prepare)
        reason = "contains none of the forbidden texts" if not hits else (
            "contains forbidden " + ", ".join(shorten(h) for h in hits))
        return Score.of(not hits, reason, found=hits)

    return score


# -- patterns and numbers -------------------------------------------------------------------------

_REGEX_MODES = ("search", "match", "fullmatch")


def _compile(pattern: str, flags: int, grader_name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise GraderConfigError(f"{grader_name}: invalid regular expression {pattern!r}: {exc}") from None


@grader
def regex(pattern: str | None = None, *, from_expected: str | None = None, default: Any = MISSING,
          mode: Literal["search", "match", "fullmatch"] = "search", ignore_case: bool = False,
          multiline: bool = False) -> ScoreFn:
    """The output matches ``pattern`` (``search`` anywhere, ``match`` at the start, or ``fullmatch``).

    A literal pattern is compiled when the grader is built: a bad one raises ``GraderConfigError``
    at once. A pattern read from the task is compiled per task (a bad one is a grader error).
    """
    if mode not in _REGEX_MODES:
        raise GraderConfigError(f"regex: mode must be one of {_REGEX_MODES}, got {mode!r}")
    flags = (re.IGNORECASE if ignore_case else 0) | (re.MULTILINE if multiline else 0)
    compiled = _compile(pattern, flags, "regex") if pattern is not None else None
    reference = reference_source("regex", pattern, from_expected, default, literal_name="pattern")

    def score(attempt: Attempt) -> Score:
        wanted = compiled if compiled is not None else _task_pattern(reference(attempt), flags, attempt)
        found = getattr(wanted, mode)(attempt.output_text)
        if found is None:
            return Score.of(False, f"no {mode} of /{wanted.pattern}/ in {shorten(attempt.output_text)}")
        return Score.of(True, f"/{wanted.pattern}/ matched {shorten(found.group(0))}", match=found.group(0))

    return score


def _task_pattern(pattern: Any, flags: int, attempt: Attempt) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ValueError(f"regex: task '{attempt.task.id}': the pattern must be a string, got {type(pattern).__name__}")
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"regex: task '{attempt.task.id}': invalid regular expression {pattern!r}: {exc}") from None


@grader
def numeric(expected: float | None = None, *, from_expected: str | None = None, default: Any = MISSING,
            abs_tol: float = 0.0, rel_tol: float = 0.0,
            pick: Literal["last", "first", "only"] = "last") -> ScoreFn:
    """The number in the output is within tolerance of ``expected``.

    The output may be a number, or text: the number is read from it (``pick`` the ``last`` one —
    where answers usually end up —, the ``first``, or the ``only`` one, failing if it holds
    several distinct numbers). Passes when ``|got - expected| <= max(abs_tol, rel_tol * |expected|)``.
    """
    if abs_tol < 0 or rel_tol < 0:
        raise GraderConfigError(f"numeric: tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}")
    if pick not in ("last", "first", "only"):
        raise GraderConfigError(f"numeric: pick must be 'last', 'first' or 'only', got {pick!r}")
    if expected is not None and not _is_number(expected):
        raise GraderConfigError(f"numeric: expected must be a number, got {expected!r}")
    reference = reference_source("numeric", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        want = _as_number(reference(attempt), attempt)
        got, note = _number_in(attempt.output, pick)
        if got is None:
            return Score.of(False, note)
        allowed = max(abs_tol, rel_tol * abs(want))
        ok = math.isfinite(got) and abs(got - want) <= allowed
        tolerance = f" ± {allowed:g}" if allowed else ""
        return Score.of(ok, f"expected {want:g}{tolerance}, got {got:g}{note}", got=got, expected=want)

    return score


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Any, attempt: Attempt) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        numbers = extract_numbers(value)
        if len(numbers) == 1:
            return numbers[0]
    raise ValueError(f"numeric: task '{attempt.task.id}': the expected value {value!r} is not a number")


def _number_in(output: Any, pick: str) -> tuple[float | None, str]:
    """The number an output holds, and a note on where it came from (or why there is none)."""
    if _is_number(output):
        return float(output), ""
    text = output if isinstance(output, str) else "" if output is None else str(output)
    numbers = extract_numbers(text)
    if not numbers:
        return None, f"no number in the output {shorten(text)}"
    if pick == "only" and len(set(numbers)) > 1:
        return None, f"the output holds several numbers {numbers[:6]} (pick='only')"
    chosen = numbers[0] if pick == "first" else numbers[-1]
    return chosen, "" if len(numbers) == 1 else f" ({pick} of {len(numbers)} numbers)"


# -- structured output ----------------------------------------------------------------------------

@grader
def json_valid(*, strip_code_fences: bool = False) -> ScoreFn:
    """The output is JSON (text that parses, or already a dict/list/model)."""

    def score(attempt: Attempt) -> Score:
        try:
            parse_structured(attempt.output, strip_code_fences)
        except NotJSON as exc:
            return Score.of(False, str(exc))
        return Score.of(True, "valid JSON")

    return score


def _schema_validator(schema: Any, grader_name: str) -> jsonschema.Draft202012Validator:
    if not isinstance(schema, dict | bool):
        raise GraderConfigError(f"{grader_name}: a JSON schema is a dict, got {type(schema).__name__}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "<root>"
        raise GraderConfigError(f"{grader_name}: invalid JSON schema at {where}: {exc.message}") from None
    return jsonschema.Draft202012Validator(schema)


@grader
def json_schema(schema: Mapping[str, Any] | None = None, *, from_expected: str | None = None,
                default: Any = MISSING, strip_code_fences: bool = False, max_errors: int = 5) -> ScoreFn:
    """The output is JSON that validates against ``schema`` (JSON Schema draft 2020-12).

    A literal schema is checked when the grader is built (``GraderConfigError`` if invalid);
    the reason lists up to ``max_errors`` validation errors with their paths.
    """
    validator = _schema_validator(dict(schema), "json_schema") if schema is not None else None
    reference = reference_source("json_schema", schema, from_expected, default, literal_name="schema")

    def score(attempt: Attempt) -> Score:
        checker = validator or _task_validator(reference(attempt), attempt)
        try:
            data = parse_structured(attempt.output, strip_code_fences)
        except NotJSON as exc:
            return Score.of(False, str(exc))
        errors = sorted(checker.iter_errors(data), key=lambda e: list(e.absolute_path))
        if not errors:
            return Score.of(True, "valid against the schema")
        shown = "; ".join(f"{_json_path(e.absolute_path)}: {e.message}" for e in errors[:max_errors])
        more = f" (+{len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        return Score.of(False, shown + more, errors=len(errors))

    return score


def _task_validator(schema: Any, attempt: Attempt) -> jsonschema.Draft202012Validator:
    try:
        return _schema_validator(schema, "json_schema")
    except GraderConfigError as exc:
        raise ValueError(f"task '{attempt.task.id}': {exc}") from None


def _json_path(path: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@grader
def pydantic_model(model: type[BaseModel], *, strict: bool = False, strip_code_fences: bool = False,
                   max_errors: int = 5) -> ScoreFn:
    """The output validates as ``model`` (a pydantic class): JSON text, a dict, or an instance."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise GraderConfigError(f"pydantic_model: model must be a pydantic BaseModel class, got {model!r}")

    def score(attempt: Attempt) -> Score:
        if isinstance(attempt.output, model):
            return Score.of(True, f"is a {model.__name__}")
        try:
            data = parse_structured(attempt.output, strip_code_fences)
            model.model_validate(data, strict=strict)
        except NotJSON as exc:
            return Score.of(False, str(exc))
        except ValidationError as exc:
            problems = exc.errors()
            shown = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                              for e in problems[:max_errors])
            return Score.of(False, f"not a valid {model.__name__}: {shown}", errors=len(problems))
        return Score.of(True, f"valid {model.__name__}")

    return score


@grader
def fields(expected: Mapping[str, Any] | None = None, *, from_expected: str | None = None,
           default: Any = MISSING, normalize: bool = False, abs_tol: float = 0.0, pass_at: float = 1.0,
           strip_code_fences: bool = False) -> ScoreFn:
    """Field-level comparison of a structured output: the value is the fraction of fields that match.

    ``expected`` maps field paths (``"customer.name"``) or nested dicts to expected values; each
    leaf is one field. Strings compare exactly, or after normalisation with ``normalize=True``;
    numbers within ``abs_tol``. Passes when the fraction reaches ``pass_at`` (all, by default).
    Extra fields in the output are ignored.
    """
    if not 0.0 <= pass_at <= 1.0:
        raise GraderConfigError(f"fields: pass_at must lie in [0, 1], got {pass_at}")
    if expected is not None and (not isinstance(expected, Mapping) or not expected):
        raise GraderConfigError("fields: expected must be a non-empty dict of field -> value")
    reference = reference_source("fields", expected, from_expected, default)
    same = _field_equality(normalize, abs_tol)

    def score(attempt: Attempt) -> Score:
        want = reference(attempt)
        if not isinstance(want, Mapping) or not want:
            raise ValueError(f"fields: task '{attempt.task.id}': expected a non-empty dict of fields, "
                             f"got {shorten(want)}")
        try:
            got = parse_structured(attempt.output, strip_code_fences)
        except NotJSON as exc:
            return Score(value=0.0, passed=False, reason=f"no structured output: {exc}")
        return _compare_fields(flatten_expected(dict(want)), got, same, pass_at)

    return score


def _field_equality(normalize: bool, abs_tol: float) -> Callable[[Any, Any], bool]:
    how = Normalization()

    def same(want: Any, got: Any) -> bool:
        if _is_number(want) and _is_number(got):
            return abs(float(want) - float(got)) <= abs_tol
        if normalize and isinstance(want, str) and isinstance(got, str):
            return how.apply(want) == how.apply(got)
        return bool(want == got)

    return same


_ABSENT = object()


def _compare_fields(want: dict[str, Any], got: Any, same: Callable[[Any, Any], bool], pass_at: float) -> Score:
    mismatches: list[str] = []
    for path, value in want.items():
        try:
            actual = lookup_path(got, path)
        except KeyError:
            actual = _ABSENT
        if actual is _ABSENT:
            mismatches.append(f"{path}: missing (expected {shorten(value, 40)})")
        elif not same(value, actual):
            mismatches.append(f"{path}: expected {shorten(value, 40)}, got {shorten(actual, 40)}")
    matched = len(want) - len(mismatches)
    value = matched / len(want)
    reason = f"{matched}/{len(want)} fields match" + ("" if not mismatches else "; " + "; ".join(mismatches))
    return Score(value=value, passed=value >= pass_at - 1e-12, reason=reason,
                 metadata={"matched": matched, "fields": len(want), "mismatches": mismatches})


# -- anything else --------------------------------------------------------------------------------

@grader
def python(fn: Callable[[Attempt], Any]) -> ScoreFn:
    """Any function of the attempt, sync or async, returning a bool, a number in [0, 1] or a Score.

    The grader's id names the function (``python(fn=refund_is_correct)``), so give it a real
    ``def`` rather than a lambda when the id should say something.
    """
    if not callable(fn):
        raise GraderConfigError(f"python: fn must be callable, got {fn!r}")
    if inspect.isclass(fn):
        raise GraderConfigError(f"python: fn must be a function of the attempt, got the class {fn.__name__}")
    return fn
