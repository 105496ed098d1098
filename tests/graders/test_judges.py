"""LLM judges against the stub server: verdicts, invalid replies, API errors, both-order pairwise, ensembles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from harness.core.dataset import Task
from harness.core.prompts import PromptVersion
from harness.engine.runtime import NoRuntime, Runtime, RuntimeConfig
from harness.engine.suite import ModelSettings
from harness.graders import (
    Attempt,
    GraderConfigError,
    JudgeError,
    contains,
    ensemble,
    pairwise_batch,
    pairwise_compare,
    pairwise_judge,
    reference_judge,
    rubric_judge,
)
from harness.graders.judge_engine import _InvalidReply, _validated, verdict_schema
from harness.graders.judge_prompt import BUILTIN_PROMPTS, JudgePrompt
from harness.graders.pairwise import PairwiseVerdict
from harness.testing.stub_server import Rule, StubServer

T = TypeVar("T")

TASK = Task(id="q1", input="Can I get a refund after 40 days?", expected={"answer": "No: refunds close after 30 days."})
ATTEMPT = Attempt(task=TASK, output="Refunds are possible within 30 days, so no.", suite="support", variant="v1")


def verdict(score: int | None = None, label: str | None = None, reasoning: str = "checked the policy") -> dict[str, Any]:
    data: dict[str, Any] = {"reasoning": reasoning}
    if score is not None:
        data["score"] = score
    if label is not None:
        data["label"] = label
    return data


def run_in(stub: StubServer, work: Callable[[], Awaitable[T]], **config: Any) -> T:
    """Run ``work`` in a runtime (record mode off, no HTTP retries) whose judge client talks to ``stub``."""

    async def go() -> T:
        settings = config.pop("judge_settings", ModelSettings(model="judge-model", temperature=0.0))
        runtime = RuntimeConfig(base_url=stub.base_url, record_mode="off", max_retries=0, judge_settings=settings,
                                **config)
        async with Runtime(runtime):
            return await work()

    return asyncio.run(go())


def with_judge(rules: list[Rule], work: Callable[[], Awaitable[T]], **config: Any) -> tuple[T, StubServer]:
    """``work``'s result and the stub (serving ``rules``) it ran against."""
    with StubServer(rules=rules) as stub:
        return run_in(stub, work, **config), stub


def judge_bodies(stub: StubServer) -> list[dict[str, Any]]:
    return [r["body"] for r in stub.requests if r["path"].endswith("/chat/completions")]


# -- rubric judge ---------------------------------------------------------------------------------

def test_rubric_judge_scale_verdict() -> None:
    judge = rubric_judge("Does the answer state the 30-day limit?")
    score, _ = with_judge([Rule(structured=verdict(score=5))], lambda: judge(ATTEMPT))
    assert score.passed and score.value == 1.0
    assert score.reason == "checked the policy"
    assert score.metadata["score"] == 5 and score.metadata["model"] == "judge-model"
    low, _ = with_judge([Rule(structured=verdict(score=3))], lambda: judge(ATTEMPT))
    assert low.value == 0.5 and not low.passed  # default pass_at for 1-5 is 4


def test_rubric_judge_request_asks_for_strict_structured_output_with_reasoning_first() -> None:
    judge = rubric_judge("Is it polite?", temperature=0.3, model="gpt-judge")
    _, stub = with_judge([Rule(structured=verdict(score=4))], lambda: judge(ATTEMPT))
    body = judge_bodies(stub)[0]
    assert body["model"] == "gpt-judge" and body["temperature"] == 0.3
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert list(schema["schema"]["properties"]) == ["reasoning", "score"]
    assert schema["schema"]["properties"]["score"]["minimum"] == 1
    system, user = body["messages"]
    assert system["role"] == "system" and "impartial" in system["content"]
    assert "Is it polite?" in user["content"] and ATTEMPT.output in user["content"] and TASK.input in user["content"]


def test_rubric_judge_labels() -> None:
    judge = rubric_judge("Correct?", labels=["pass", "fail"])
    passed, _ = with_judge([Rule(structured=verdict(label="pass"))], lambda: judge(ATTEMPT))
    failed, stub = with_judge([Rule(structured=verdict(label="fail"))], lambda: judge(ATTEMPT))
    assert (passed.passed, passed.value) == (True, 1.0)
    assert (failed.passed, failed.value) == (False, 0.0)
    assert judge_bodies(stub)[0]["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == [
        "pass", "fail"]


def test_judge_settings_come_from_the_runtime() -> None:
    judge = rubric_judge("ok?")
    settings = ModelSettings(model="runtime-judge", temperature=0.0, seed=7)
    _, stub = with_judge([Rule(structured=verdict(score=5))], lambda: judge(ATTEMPT), judge_settings=settings)
    body = judge_bodies(stub)[0]
    assert (body["model"], body["temperature"], body["seed"]) == ("runtime-judge", 0.0, 7)


def test_judge_params_record_prompt_name_version_and_sha256() -> None:
    judge = rubric_judge("Is it polite?")
    builtin = PromptVersion.load(BUILTIN_PROMPTS / "rubric" / "v1.md")
    assert judge.params["prompt"] == "rubric@v1"
    assert judge.params["prompt_sha256"] == builtin.sha256
    assert judge.id.startswith('rubric_judge(rubric="Is it polite?", prompt="rubric@v1", prompt_sha256="')
    assert judge.fn.slug.startswith("rubric-")
    assert rubric_judge("Is it polite?").fn.slug == judge.fn.slug  # stable
    assert rubric_judge("Is it kind?").fn.slug != judge.fn.slug  # distinct per judge
    assert rubric_judge("x", name="politeness judge").fn.slug == "politeness-judge"


def test_judge_config_errors() -> None:
    with pytest.raises(GraderConfigError):
        rubric_judge("")
    with pytest.raises(GraderConfigError):
        rubric_judge("x", scale=(5, 1))
    with pytest.raises(GraderConfigError):
        rubric_judge("x", scale=(1, 5), labels=["a", "b"])
    with pytest.raises(GraderConfigError):
        rubric_judge("x", scale=(1, 5), pass_at=6)
    with pytest.raises(GraderConfigError):
        rubric_judge("x", labels=["good", "bad"], pass_at="great")
    with pytest.raises(GraderConfigError):
        rubric_judge("x", labels=["same", "same"])
    with pytest.raises(GraderConfigError, match="passing label"):
        rubric_judge("x", labels=["good", "bad"], pass_at=1)
    with pytest.raises(GraderConfigError, match="built-in rubric versions: v1"):
        rubric_judge("x", prompt="v9")
    with pytest.raises(GraderConfigError):
        rubric_judge("x", retries=-1)


def test_user_prompt_files(tmp_path: Path) -> None:
    folder = tmp_path / "politeness"
    folder.mkdir()
    good = folder / "v3.md"
    good.write_text("Rubric: {{rubric}}\n{{scale}}\nAnswer: {{output}}\n", encoding="utf-8")
    judge = rubric_judge("polite?", prompt=good)
    assert judge.params["prompt"] == "politeness@v3"
    _, stub = with_judge([Rule(structured=verdict(score=5))], lambda: judge(ATTEMPT))
    messages = judge_bodies(stub)[0]["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"].startswith("Rubric: polite?")
    unknown = folder / "v4.md"
    unknown.write_text("{{output}} {{tone}}", encoding="utf-8")
    with pytest.raises(GraderConfigError, match="unknown placeholder"):
        rubric_judge("polite?", prompt=unknown)
    no_output = folder / "v5.md"
    no_output.write_text("{{rubric}}", encoding="utf-8")
    with pytest.raises(GraderConfigError, match="output"):
        rubric_judge("polite?", prompt=no_output)


def test_outputs_are_data_not_template() -> None:
    prompt = JudgePrompt.load(None, "rubric")
    rendered = prompt.render({"rubric": "R", "scale": "S", "input": "I", "output": "{{rubric}}"})
    assert "{{rubric}}" in rendered[1]["content"]


def test_reference_judge_reads_the_expected_answer() -> None:
    judge = reference_judge(from_expected="answer")
    score, stub = with_judge([Rule(structured=verdict(label="correct"))], lambda: judge(ATTEMPT))
    assert score.passed and score.value == 1.0
    assert "refunds close after 30 days" in judge_bodies(stub)[0]["messages"][1]["content"]
    partial, _ = with_judge([Rule(structured=verdict(label="partially_correct"))], lambda: judge(ATTEMPT))
    assert not partial.passed and partial.value == 0.5
    lenient = reference_judge(from_expected="answer", pass_at=["correct", "partially_correct"])
    assert with_judge([Rule(structured=verdict(label="partially_correct"))], lambda: lenient(ATTEMPT))[0].passed
    bare = Attempt(task=Task(id="q2", input="x"), output="y")
    with pytest.raises(ValueError, match="no expected answer"):
        with_judge([Rule(structured=verdict(label="correct"))], lambda: reference_judge()(bare))


# -- failures: invalid replies, API errors, no runtime --------------------------------------------

def test_invalid_json_is_retried_then_raised_as_judge_error() -> None:
    judge = rubric_judge("ok?")
    with (StubServer(rules=[Rule(fault="malformed")]) as stub,
          pytest.raises(JudgeError, match="no valid verdict after 3 tries") as caught):
        run_in(stub, lambda: judge(ATTEMPT))
    assert len(caught.value.problems) == 3 and stub.hits == 3


def test_a_retry_recovers_from_one_invalid_reply() -> None:
    judge = rubric_judge("ok?")
    rules = [Rule(fault="malformed", times=1), Rule(structured=verdict(score=5))]
    score, stub = with_judge(rules, lambda: judge(ATTEMPT))
    assert score.passed and score.metadata["tries"] == 2 and stub.hits == 2


def test_a_reply_that_fails_validation_is_retried() -> None:
    judge = rubric_judge("ok?", retries=1)
    with pytest.raises(JudgeError, match="does not fit ScoreVerdict") as caught:
        with_judge([Rule(structured=verdict(score=9))], lambda: judge(ATTEMPT))
    assert len(caught.value.problems) == 2
    missing_field, _ = with_judge([Rule(structured={"score": 5}, times=1), Rule(structured=verdict(score=4))],
                                  lambda: judge(ATTEMPT))
    assert missing_field.metadata["tries"] == 2


def test_server_errors_are_retried_then_raised() -> None:
    judge = rubric_judge("ok?", retries=2)
    with StubServer(rules=[Rule(fault="server_error")]) as stub, pytest.raises(JudgeError, match="HTTP 500"):
        run_in(stub, lambda: judge(ATTEMPT))
    assert stub.hits == 3


def test_server_error_then_recovery_and_attempt_count() -> None:
    judge = rubric_judge("ok?", retries=2)
    score, stub = with_judge([Rule(fault="server_error", times=2), Rule(structured=verdict(score=5))],
                             lambda: judge(ATTEMPT))
    assert score.metadata["tries"] == 3 and stub.hits == 3


def test_client_errors_are_not_retried() -> None:
    judge = rubric_judge("ok?", retries=2)
    with (StubServer(rules=[Rule(fault="server_error", status=400, message="bad request")]) as stub,
          pytest.raises(JudgeError, match="HTTP 400: bad request")):
        run_in(stub, lambda: judge(ATTEMPT))
    assert stub.hits == 1


def test_a_refusal_is_an_invalid_reply() -> None:
    message = SimpleNamespace(refusal="I can't help with that", content=None)
    completion = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")])
    with pytest.raises(_InvalidReply, match="refused"):
        _validated(completion, PairwiseVerdict)


def test_judge_errors_become_grader_errors_in_the_runner() -> None:
    from harness.engine.runner import grade

    judge = rubric_judge("ok?", retries=0)
    records, _ = with_judge([Rule(fault="malformed")], lambda: grade([judge, contains("30")], ATTEMPT))
    assert records[0].error is not None and records[0].error.type == "JudgeError" and records[0].value is None
    assert records[1].error is None and records[1].passed


def test_a_judge_needs_an_open_runtime() -> None:
    with pytest.raises(NoRuntime):
        asyncio.run(rubric_judge("ok?")(ATTEMPT))


# -- pairwise -------------------------------------------------------------------------------------

ALWAYS_FIRST = [Rule(structured={"reasoning": "A reads better", "winner": "A"})]
GOOD_WINS = [
    Rule(contains="<response_a>\nGOOD", structured={"reasoning": "A is right", "winner": "A"}),
    Rule(contains="<response_b>\nGOOD", structured={"reasoning": "B is right", "winner": "B"}),
    Rule(structured={"reasoning": "first one", "winner": "A"}),
]


def test_position_bias_yields_an_inconsistent_tie_not_a_win() -> None:
    result, stub = with_judge(ALWAYS_FIRST, lambda: pairwise_compare(TASK, "answer one", "answer two"))
    assert result.winner == "tie" and not result.consistent
    assert [(o.order, o.slot, o.winner) for o in result.orders] == [("ab", "A", "a"), ("ba", "A", "b")]
    assert "inconsistent" in result.reason
    first, second = (b["messages"][1]["content"] for b in judge_bodies(stub))
    assert first.index("answer one") < first.index("answer two")
    assert second.index("answer two") < second.index("answer one")


def test_a_win_counts_when_both_orders_agree() -> None:
    result, _ = with_judge(GOOD_WINS, lambda: pairwise_compare(TASK, "meh", "GOOD answer"))
    assert result.winner == "b" and result.consistent
    assert [o.slot for o in result.orders] == ["B", "A"]


def test_one_order_only_trusts_the_single_verdict() -> None:
    result, stub = with_judge(ALWAYS_FIRST, lambda: pairwise_compare(TASK, "x", "y", both_orders=False))
    assert result.winner == "a" and stub.hits == 1


def test_pairwise_batch_reports_the_inconsistency_rate() -> None:
    items = [(TASK, "GOOD answer", "meh"), (Task(id="q2", input="other"), "meh one", "meh two")]
    batch, _ = with_judge(GOOD_WINS, lambda: pairwise_batch(items))
    assert (batch.n, batch.wins_a, batch.wins_b, batch.ties, batch.inconsistent) == (2, 1, 0, 1, 1)
    assert batch.inconsistency_rate == 0.5 and batch.win_rate_a == 0.5
    with pytest.raises(ValueError, match="unique"):
        with_judge(GOOD_WINS, lambda: pairwise_batch([items[0], items[0]]))


def test_pairwise_judge_grades_against_a_baseline() -> None:
    task = Task(id="q3", input="q", expected={"baseline": "meh"})
    win = Attempt(task=task, output="GOOD answer", suite="s", variant="v2")
    score, _ = with_judge(GOOD_WINS, lambda: pairwise_judge(from_expected="baseline")(win))
    assert score.value == 1.0 and score.passed and score.metadata["consistent"]
    biased, _ = with_judge(ALWAYS_FIRST, lambda: pairwise_judge(lambda a: "other")(win))
    assert biased.value == 0.5 and biased.passed and not biased.metadata["consistent"]
    strict, _ = with_judge(ALWAYS_FIRST, lambda: pairwise_judge(lambda a: "other", pass_on_tie=False)(win))
    assert not strict.passed
    assert pairwise_judge(from_expected="baseline").params["prompt"] == "pairwise@v1"


def test_pairwise_verdict_schema_puts_reasoning_first() -> None:
    schema = verdict_schema(PairwiseVerdict)["json_schema"]["schema"]
    assert list(schema["properties"]) == ["reasoning", "winner"]
    assert schema["additionalProperties"] is False


# -- ensembles ------------------------------------------------------------------------------------

def test_ensemble_of_samples_majority_and_agreement() -> None:
    judge = rubric_judge("ok?", temperature=1.0)
    rules = [Rule(structured=verdict(score=5), times=2), Rule(structured=verdict(score=1))]
    score, stub = with_judge(rules, lambda: ensemble(judge, samples=3)(ATTEMPT))
    assert score.passed and score.value == pytest.approx(2 / 3)
    assert score.metadata["agreement"] == pytest.approx(2 / 3) and not score.metadata["unanimous"]
    assert [v["passed"] for v in score.metadata["votes"]] == [True, True, False]
    assert stub.hits == 3


def test_ensemble_mean_of_different_judges() -> None:
    strict = rubric_judge("strict?", name="strict")
    lenient = rubric_judge("lenient?", name="lenient")
    rules = [Rule(contains="strict?", structured=verdict(score=2)), Rule(structured=verdict(score=5))]
    score, _ = with_judge(rules, lambda: ensemble([strict, lenient], method="mean")(ATTEMPT))
    assert score.value == pytest.approx((0.25 + 1.0) / 2) and score.passed
    assert score.metadata["agreement"] == 0.5 and "value_stdev" in score.metadata
    assert ensemble([strict, lenient]).id == f"ensemble(judges=[{strict.id}, {lenient.id}])"


def test_ensemble_config_errors_and_member_failures() -> None:
    judge = rubric_judge("ok?")
    with pytest.raises(GraderConfigError, match="twice"):
        ensemble([judge, rubric_judge("ok?")])
    with pytest.raises(GraderConfigError, match="LLM judges"):
        ensemble([judge, contains("x")], samples=2)
    with pytest.raises(GraderConfigError, match="not an ensemble"):
        ensemble(judge)
    with pytest.raises(JudgeError, match="ensemble member"):
        with_judge([Rule(fault="malformed")], lambda: ensemble(judge.named("j"), samples=2)(ATTEMPT))


def test_judge_reasoning_is_json_roundtrippable() -> None:
    judge = rubric_judge("ok?")
    score, _ = with_judge([Rule(structured=verdict(score=4, reasoning="naïve — “quoted”"))], lambda: judge(ATTEMPT))
    assert json.loads(score.model_dump_json())["reason"] == "naïve — “quoted”"
