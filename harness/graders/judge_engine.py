"""The machinery every LLM judge shares: one structured-output call, validated, retried, recorded.

A judge call

* uses the runtime's judge client and judge settings (``RuntimeConfig.judge_settings``), with the
  judge's own ``model`` / ``temperature`` overriding them;
* asks for structured output (``response_format`` = the verdict's JSON schema, strict) and then
  parses and validates the reply itself with pydantic, so a reply that is not JSON, misses a
  field or breaks a bound is caught rather than trusted;
* runs inside ``runtime.unit(RequestContext(..., channel="judge/<slug>"))``, so its requests are
  keyed, traced and recorded in cassettes of their own (``cassettes/<suite>/_judges/<slug>/…``)
  and replay like any flow;
* retries an invalid reply, a refusal or a transient API error up to ``retries`` times, then
  raises :class:`JudgeError` — which the runner records as a *grader error*, never as a score
  of 0. HTTP-level retries (429/5xx with back-off) are the ``openai`` client's own, configured by
  ``RuntimeConfig.max_retries``; a judge retry comes on top, as a new call.

Errors that no retry can fix — a cassette miss while replaying, a 4xx such as a bad request or a
bad key — raise :class:`JudgeError` at once.

Retries replay. A reply that arrived but was invalid is recorded, so the retry is a new call
(the next request key). A failed HTTP attempt (5xx, 429, a dropped connection) is not recorded,
so its retry is sent as a repeat of the same call (marked with the ``openai`` client's own retry
header, which makes the transport reuse the key): on replay, the one recorded success answers it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from harness.core import names
from harness.core.context import RequestContext
from harness.core.grading import GraderConfigError
from harness.engine.runtime import current_runtime

__all__ = ["JudgeError", "JudgeSettings", "JudgeReply", "UnitKey", "ask_judge", "verdict_schema", "slugify"]

_TRANSIENT_STATUS = {408, 409, 429}
_MISS_HEADER = "x-harness-cassette-miss"
#: The ``openai`` client's retry header; the harness transport gives a marked request its previous key.
_RETRY_HEADER = "x-stainless-retry-count"


class JudgeError(RuntimeError):
    """A judge gave no valid verdict: invalid replies, refusals or API errors, after its retries.

    ``problems`` lists what went wrong on each try, oldest first. ``replayable``: every try got
    an answer (recorded, so a replay reproduces this error); a try that reached no server did not.
    """

    def __init__(self, message: str, problems: Sequence[str] = (), replayable: bool = True) -> None:
        super().__init__(message)
        self.problems = list(problems)
        self.replayable = replayable


@dataclass(frozen=True)
class JudgeSettings:
    """A judge's own overrides of the runtime's judge settings, and its retry budget."""

    model: str | None = None
    temperature: float | None = None
    retries: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise GraderConfigError(f"judge retries must be an integer >= 0, got {self.retries!r}")
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            raise GraderConfigError(f"judge temperature must lie in [0, 2], got {self.temperature}")

    def request_kwargs(self, runtime_settings: Any) -> dict[str, Any]:
        """The runtime's judge settings (model, temperature, max_tokens, seed…) with these overrides."""
        kwargs = dict(runtime_settings.request_kwargs()) if runtime_settings is not None else {}
        if self.model is not None:
            kwargs["model"] = self.model
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        kwargs.setdefault("model", "gpt-4o-mini")
        return kwargs


@dataclass(frozen=True)
class UnitKey:
    """Who a judge call is about: the unit it is recorded under (with channel ``judge/<slug>``)."""

    suite: str
    variant: str
    task_id: str
    epoch: int = 1

    def request(self, slug: str) -> RequestContext:
        return RequestContext(self.suite or "adhoc", self.variant or "default", self.task_id, self.epoch,
                              channel=f"judge/{slug}")


#: The verdict model a judge asks for: replies carry an instance of it, so a caller with a static
#: model (pairwise) reads its fields typed; one built at run time stays a plain BaseModel.
VerdictT = TypeVar("VerdictT", bound=BaseModel)


@dataclass(frozen=True)
class JudgeReply(Generic[VerdictT]):
    """One validated verdict and how it was obtained."""

    verdict: VerdictT
    model: str
    tries: int


def slugify(text: str) -> str:
    """A judge name as a cassette folder name: letters, digits and ``-_.``."""
    slug = names.slugify(text.strip(), keep="-_.", fill="-").strip("-")
    if not slug:
        raise GraderConfigError(f"judge name {text!r} has no usable characters")
    return slug


def verdict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``response_format`` for a verdict model: a strict JSON schema, fields in declared order."""
    schema = model.model_json_schema()
    schema["additionalProperties"] = False
    schema["required"] = list(schema.get("properties", {}))
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "strict": True, "schema": schema}}


async def ask_judge(*, slug: str, key: UnitKey, messages: Sequence[Sequence[dict[str, str]]],
                    verdict: type[VerdictT], settings: JudgeSettings) -> list[JudgeReply[VerdictT]]:
    """One validated verdict per message list, all within one judge unit (calls ``c1``, ``c2``…)."""
    runtime = current_runtime()
    kwargs = settings.request_kwargs(runtime.config.judge_settings)
    response_format = verdict_schema(verdict)
    identity = judge_identity(messages, response_format, kwargs)
    async with runtime.unit(key.request(slug), {"identity": identity, "model": kwargs["model"]}) as unit:
        if unit.unreadable is not None:
            raise JudgeError(f"judge {slug}: {unit.unreadable}", [str(unit.unreadable)], replayable=False)
        try:
            return [await _one_verdict(runtime.judge_client, list(m), kwargs, response_format, verdict, settings,
                                       slug) for m in messages]
        except JudgeError as exc:
            # Keep what the judge answered: replay must show this error, not a cassette miss.
            unit.keep_failed_recording = exc.replayable
            raise


def judge_identity(messages: Sequence[Sequence[dict[str, str]]], response_format: dict[str, Any],
                   kwargs: dict[str, Any]) -> str:
    """What the judge is, for one unit: everything it is asked (rubric and what it is shown, in
    the messages), the verdict it may give (labels or scale, in the schema) and its model and
    settings. ``once`` records a judge unit anew when this changes."""
    what = {"messages": [list(m) for m in messages], "response_format": response_format, "request": kwargs}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def _one_verdict(client: Any, messages: list[dict[str, str]], kwargs: dict[str, Any],
                       response_format: dict[str, Any], verdict: type[VerdictT], settings: JudgeSettings,
                       slug: str) -> JudgeReply[VerdictT]:
    problems: list[str] = []
    unanswered = False  # a try that reached no server leaves nothing a replay could reproduce
    resends = 0  # tries that repeat the same call (its failed attempt left no recording)
    for attempt in range(1, settings.retries + 2):
        headers = {_RETRY_HEADER: str(resends)} if resends else None
        try:
            completion = await client.chat.completions.create(messages=messages, response_format=response_format,
                                                              extra_headers=headers, **kwargs)
            parsed = _validated(completion, verdict)
        except openai.APIStatusError as exc:
            if _is_final(exc):
                message = f"judge {slug}: {_describe_status(exc)} (not retried)"
                raise JudgeError(message, [*problems, str(exc)]) from exc
            problems.append(f"try {attempt}: {_describe_status(exc)}")
            resends += 1
        except openai.APIConnectionError as exc:  # timeouts included
            problems.append(f"try {attempt}: {type(exc).__name__}: {exc}")
            resends += 1
            unanswered = True
        except (openai.APIError, ValueError) as exc:  # a reply arrived (and was recorded) but holds no verdict
            problems.append(f"try {attempt}: {type(exc).__name__}: {exc}")
            resends = 0
        else:
            model = str(getattr(completion, "model", None) or kwargs["model"])
            return JudgeReply(verdict=parsed, model=model, tries=attempt)
    tries = settings.retries + 1
    raise JudgeError(f"judge {slug}: no valid verdict after {tries} tries: " + " | ".join(problems), problems,
                     replayable=not unanswered)


class _InvalidReply(ValueError):
    """A reply that arrived but holds no usable verdict (refusal, empty, not JSON, invalid)."""


def _validated(completion: Any, verdict: type[VerdictT]) -> VerdictT:
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise _InvalidReply("the reply has no choices")
    message = choices[0].message
    if getattr(message, "refusal", None):
        raise _InvalidReply(f"the judge refused: {message.refusal}")
    content = message.content
    if not content or not content.strip():
        raise _InvalidReply(f"the reply is empty (finish_reason={choices[0].finish_reason})")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise _InvalidReply(f"the reply is not JSON ({exc.msg}): {content[:120]!r}") from None
    try:
        return verdict.model_validate(data)
    except ValidationError as exc:
        shown = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:4])
        raise _InvalidReply(f"the reply does not fit {verdict.__name__}: {shown}") from None


def _is_final(exc: openai.APIStatusError) -> bool:
    """Errors a retry cannot fix: a cassette miss, and 4xx other than timeouts/conflicts/rate limits."""
    if exc.response is not None and exc.response.headers.get(_MISS_HEADER):
        return True
    return exc.status_code < 500 and exc.status_code not in _TRANSIENT_STATUS


def _describe_status(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or exc.message
    if exc.response is not None and exc.response.headers.get(_MISS_HEADER):
        return f"cassette miss: {message}"
    return f"HTTP {exc.status_code}: {message}"
