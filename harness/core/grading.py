"""The grader protocol: ``Attempt`` in, ``Score`` out, with a name and recorded parameters.

A grader is made by a factory decorated with :func:`grader`. The decorator records the factory's
name and bound arguments, so every score in a results row says exactly which grader with which
settings produced it — and ``harness regrade`` can rebuild it::

    @grader
    def contains(text: str, case_sensitive: bool = False):
        async def score(attempt: Attempt) -> Score:
            ...
        return score

    contains("refund").id  ->  'contains(text="refund")'

A factory's scoring function may carry a ``grader_params`` dict: those derived parameters (a
judge's prompt version and sha256) are recorded too.

A grader that raises is a *grader error* (recorded in the row, distinct from a score of 0);
the run goes on.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from harness.core.dataset import Task
from harness.core.trace import Trajectory

__all__ = ["Score", "Attempt", "Grader", "grader", "GraderConfigError", "as_score", "sample_scores", "sampler_of", "metric_name"]


class GraderConfigError(ValueError):
    """A grader built with settings that cannot work (bad regex, bad schema): raised before any run."""


class Score(BaseModel):
    """A grader's verdict: ``value`` in [0, 1], ``passed``, and a reason a person can read."""

    value: float = Field(ge=0.0, le=1.0)
    passed: bool
    reason: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("value", mode="before")
    @classmethod
    def _bool_as_number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, bool) else value

    @classmethod
    def of(cls, passed: bool, reason: str = "", **metadata: Any) -> Score:
        return cls(value=1.0 if passed else 0.0, passed=passed, reason=reason, metadata=metadata)


@dataclass(frozen=True)
class Attempt:
    """One variant's answer to one task (one epoch): what every grader looks at."""

    task: Task
    output: Any
    trajectory: Trajectory = field(default_factory=Trajectory)
    state: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    epoch: int = 1
    suite: str = ""

    @property
    def output_text(self) -> str:
        """The output as text: strings as they are, anything else as compact JSON."""
        if self.output is None:
            return ""
        if isinstance(self.output, str):
            return self.output
        if isinstance(self.output, BaseModel):
            return self.output.model_dump_json()
        return json.dumps(self.output, ensure_ascii=False, default=str)


ScoreFn = Callable[[Attempt], Awaitable[Score] | Score]


class Grader(Protocol):
    name: str
    params: dict[str, Any]

    @property
    def id(self) -> str: ...

    async def __call__(self, attempt: Attempt) -> Score: ...


def _json_default(value: Any) -> Any:
    """How values JSON cannot hold appear in ids and params: stable names, never memory addresses.

    Graders by id, classes and functions by name, compiled patterns by their text; objects that
    define ``__grader_repr__`` (argument matchers) by what it returns.
    """
    if isinstance(value, BaseGrader):
        return value.id
    described = getattr(value, "__grader_repr__", None)
    if callable(described):
        return described()
    if isinstance(value, re.Pattern):
        return f"re:{value.pattern}"
    if isinstance(value, type):
        return value.__name__
    if callable(value):
        return getattr(value, "__name__", "fn")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def _format_param(value: Any) -> str:
    if isinstance(value, BaseGrader):
        return value.id
    if isinstance(value, list | tuple) and any(isinstance(v, BaseGrader) for v in value):
        return "[" + ", ".join(_format_param(v) for v in value) + "]"
    if callable(value) or isinstance(value, type):
        return str(_json_default(value))
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as they go into results rows (callables and classes by name)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, type):
            out[key] = value.__name__
        elif callable(value) and not isinstance(value, BaseGrader):
            out[key] = getattr(value, "__name__", "fn")
        elif isinstance(value, BaseGrader):
            out[key] = value.id
        elif isinstance(value, list | tuple) and any(isinstance(v, BaseGrader) for v in value):
            out[key] = [v.id if isinstance(v, BaseGrader) else v for v in value]
        else:
            out[key] = json.loads(json.dumps(value, default=_json_default))
    return out


class BaseGrader:
    """A named, parameterised scorer. Built by :func:`grader`; also subclassable."""

    def __init__(self, name: str, params: dict[str, Any], fn: ScoreFn, alias: str | None = None) -> None:
        self.name = name
        self.params = params
        self._fn = fn
        self.alias = alias

    @property
    def id(self) -> str:
        """``name(arg=value, …)``, or the alias given with ``.named("…")``."""
        if self.alias:
            return self.alias
        shown = ", ".join(f"{k}={_format_param(v)}" for k, v in self.params.items())
        return f"{self.name}({shown})"

    @property
    def fn(self) -> ScoreFn:
        """The scoring function itself (composite graders reach judges' extra methods through it)."""
        return self._fn

    def named(self, alias: str) -> BaseGrader:
        """The same grader under a short metric name (``accuracy``), used by reports and gates."""
        return BaseGrader(self.name, self.params, self._fn, alias)

    async def __call__(self, attempt: Attempt) -> Score:
        result = self._fn(attempt)
        if inspect.isawaitable(result):
            result = await result
        return as_score(result)

    def __repr__(self) -> str:
        return f"<grader {self.id}>"


def metric_name(grader: Any) -> str:
    """The score name a grader's results carry (and gates name): its alias, else its id, else its name.

    Always text: a grader object whose ``name`` is None (or empty) is named ``grader``, not None,
    which no result row could hold.
    """
    for attribute in ("alias", "id", "name"):
        value = getattr(grader, attribute, None)
        if value:
            return str(value)
    return "grader"


def as_score(result: Any) -> Score:
    """Normalise what a grader function returns: a ``Score``, a bool or a number in [0, 1]."""
    if isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score.of(result)
    if isinstance(result, int | float):
        value = float(result)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"a grader returned {value}; numbers must lie in [0, 1]")
        return Score(value=value, passed=value >= 0.5)
    raise TypeError(f"a grader returned {type(result).__name__}; return a Score, a bool or a number in [0, 1]")


def grader(factory: Callable[..., ScoreFn] | None = None, *, name: str | None = None) -> Any:
    """Decorate a grader factory so its instances carry their name and parameters."""

    def wrap(make: Callable[..., ScoreFn]) -> Callable[..., BaseGrader]:
        signature = inspect.signature(make)

        @functools.wraps(make)
        def build(*args: Any, **kwargs: Any) -> BaseGrader:
            bound = signature.bind(*args, **kwargs)
            params = dict(bound.arguments)
            for pname, parameter in signature.parameters.items():
                if parameter.kind is inspect.Parameter.VAR_KEYWORD and pname in params:
                    params.update(params.pop(pname))
            fn = make(*args, **kwargs)
            # A factory may add parameters it derived (a judge's prompt sha256) for the record.
            params.update(getattr(fn, "grader_params", None) or {})
            return BaseGrader(name or make.__name__, params, fn)

        build.grader_name = name or make.__name__  # type: ignore[attr-defined]
        return build

    return wrap(factory) if factory is not None else wrap


def sampler_of(member: Any) -> Any:
    """The member's ``sample(attempt, n)`` if it is an LLM judge, else ``None``."""
    fn = getattr(member, "fn", member)
    return getattr(fn, "sample", None)


async def sample_scores(member: Any, attempt: Attempt, samples: int) -> list[Score]:
    """``samples`` scores from one grader: an LLM judge samples in one unit; other graders are called."""
    sampler = sampler_of(member)
    if sampler is not None:
        return list(await sampler(attempt, samples))
    return [await member(attempt) for _ in range(samples)]
