"""Judge calls are recorded in cassettes of their own and replay with no server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.core.dataset import Task
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import Runtime, RuntimeConfig
from harness.engine.suite import ModelSettings, Suite, Variant
from harness.graders import Attempt, JudgeError, contains, pairwise_compare, rubric_judge
from harness.testing.stub_server import Rule, StubServer

T = TypeVar("T")

TASK = Task(id="refund-40d", input="Can I get a refund after 40 days?")
ATTEMPT = Attempt(task=TASK, output="No, the window is 30 days.", suite="support", variant="triage@v2", epoch=1)


def in_runtime(work: Callable[[], Awaitable[T]], mode: str, cassettes: Path, base_url: str) -> T:
    async def go() -> T:
        async with Runtime(RuntimeConfig(base_url=base_url, record_mode=mode, cassette_dir=cassettes, max_retries=0)):
            return await work()

    return asyncio.run(go())


def test_judge_calls_are_recorded_under_judges_and_replay_without_the_server(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    judge = rubric_judge("States the 30-day window?", name="policy")
    with StubServer(rules=[Rule(structured={"reasoning": "says 30 days", "score": 5})]) as stub:
        recorded = in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
        url = stub.base_url
    assert stub.hits == 1
    path = cassettes / "support" / "_judges" / "policy" / "triage@v2" / "refund-40d.json"
    assert path.is_file()
    meta = json.loads(path.read_text())["metadata"]["harness"]
    assert meta["channel"] == "judge/policy" and meta["complete"] is True
    assert not (cassettes / "support" / "triage@v2").exists()  # flow cassettes untouched

    replayed = in_runtime(lambda: judge(ATTEMPT), "none", cassettes, url)  # the stub is gone
    assert replayed == recorded


def test_a_changed_judge_request_is_a_cassette_miss_not_a_retry(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with StubServer(rules=[Rule(structured={"reasoning": "ok", "score": 4})]) as stub:
        in_runtime(lambda: rubric_judge("v1 rubric", name="policy")(ATTEMPT), "once", cassettes, stub.base_url)
        url = stub.base_url
    changed = rubric_judge("v2 rubric", name="policy")
    with pytest.raises(JudgeError, match="cassette miss") as caught:
        in_runtime(lambda: changed(ATTEMPT), "none", cassettes, url)
    assert len(caught.value.problems) == 1


def test_both_pairwise_orders_share_one_cassette(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    rules = [Rule(structured={"reasoning": "first", "winner": "A"})]

    def compare() -> Awaitable[Any]:
        return pairwise_compare(TASK, "one", "two", name="pairs", suite="support", variant="v2_vs_v1")

    with StubServer(rules=rules) as stub:
        recorded = in_runtime(compare, "once", cassettes, stub.base_url)
        url = stub.base_url
    path = cassettes / "support" / "_judges" / "pairs" / "v2_vs_v1" / "refund-40d.json"
    assert json.loads(path.read_text())["metadata"]["harness"]["interactions"] == 2
    replayed = in_runtime(compare, "none", cassettes, url)
    assert replayed == recorded and replayed.winner == "tie" and not replayed.consistent


def test_a_failed_judge_is_recorded_and_replays_the_same_error(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    judge = rubric_judge("ok?", name="broken", retries=1)
    with StubServer(rules=[Rule(fault="malformed")]) as stub, pytest.raises(JudgeError) as recorded:
        in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
    meta = json.loads((cassettes / "support" / "_judges" / "broken" / "triage@v2" / "refund-40d.json")
                      .read_text())["metadata"]["harness"]
    assert meta["outcome"] == "error" and meta["interactions"] == 2
    with pytest.raises(JudgeError) as replayed:
        in_runtime(lambda: judge(ATTEMPT), "none", cassettes, "http://127.0.0.1:9/v1")
    assert str(replayed.value) == str(recorded.value) and "cassette miss" not in str(replayed.value)


def test_a_judge_that_failed_on_server_errors_replays_the_same_error(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    judge = rubric_judge("ok?", name="down", retries=1)
    with StubServer(rules=[Rule(fault="server_error")]) as stub, pytest.raises(JudgeError) as recorded:
        in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
    assert "HTTP 500" in str(recorded.value)
    with pytest.raises(JudgeError) as replayed:
        in_runtime(lambda: judge(ATTEMPT), "none", cassettes, "http://127.0.0.1:9/v1")
    assert str(replayed.value) == str(recorded.value)
    with StubServer(rules=[Rule(structured={"reasoning": "back", "score": 5})]) as stub:
        healed = in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
    assert healed.passed and stub.hits == 1, "once records a failed recording again"


@pytest.mark.parametrize("change", [
    {"rubric": "States the 45-day window?"},
    {"labels": ["good", "bad"]},
    {"model": "judge-model-2"},
], ids=["rubric", "labels", "model"])
def test_a_changed_judge_records_anew_under_once(tmp_path: Path, change: dict[str, Any]) -> None:
    cassettes = tmp_path / "cassettes"
    first = {"rubric": "States the 30-day window?", "name": "policy"}
    rules = [Rule(contains="`good`", structured={"reasoning": "ok", "label": "good"}),
             Rule(structured={"reasoning": "ok", "score": 5})]
    with StubServer(rules=rules) as stub:
        in_runtime(lambda: rubric_judge(**first)(ATTEMPT), "once", cassettes, stub.base_url)
        url = stub.base_url
    changed = rubric_judge(**(first | change))
    with pytest.raises(JudgeError, match="the judge changed") as miss:
        in_runtime(lambda: changed(ATTEMPT), "none", cassettes, url)
    assert "--record-mode once" in str(miss.value.problems)
    with StubServer(rules=rules) as stub:
        in_runtime(lambda: changed(ATTEMPT), "once", cassettes, stub.base_url)
        assert stub.hits == 1
    assert in_runtime(lambda: changed(ATTEMPT), "none", cassettes, url).passed


def test_a_judge_retry_after_a_server_error_replays(tmp_path: Path) -> None:
    """The 500 is not recorded; the retry repeats the same call (same key), so replay needs only the success."""
    cassettes = tmp_path / "cassettes"
    judge = rubric_judge("ok?", name="flaky")
    rules = [Rule(fault="server_error", times=1), Rule(structured={"reasoning": "fine", "score": 5})]
    with StubServer(rules=rules) as stub:
        recorded = in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
        url = stub.base_url
    assert stub.hits == 2 and recorded.metadata["tries"] == 2
    path = cassettes / "support" / "_judges" / "flaky" / "triage@v2" / "refund-40d.json"
    assert json.loads(path.read_text())["metadata"]["harness"]["interactions"] == 1
    replayed = in_runtime(lambda: judge(ATTEMPT), "none", cassettes, url)
    assert replayed.passed and replayed.reason == "fine"


def test_a_judge_retry_after_an_invalid_reply_replays(tmp_path: Path) -> None:
    """The invalid reply is recorded; the retry is the next call, and replay walks the same path."""
    cassettes = tmp_path / "cassettes"
    judge = rubric_judge("ok?", name="sloppy")
    rules = [Rule(fault="malformed", times=1), Rule(structured={"reasoning": "fine", "score": 5})]
    with StubServer(rules=rules) as stub:
        recorded = in_runtime(lambda: judge(ATTEMPT), "once", cassettes, stub.base_url)
        url = stub.base_url
    assert recorded.metadata["tries"] == 2
    replayed = in_runtime(lambda: judge(ATTEMPT), "none", cassettes, url)
    assert replayed == recorded


def test_judges_in_a_suite_run_record_then_replay(tmp_path: Path) -> None:
    """Through the runner: judge scores land in the rows, judge cassettes next to the flow's."""
    async def ask(input: Any, ctx: Any) -> str:
        reply = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": str(input)}],
                                                         **ctx.model_kwargs())
        return str(reply.choices[0].message.content)

    data = tmp_path / "tasks.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "input": f"question {i}"}) + "\n" for i in range(3)))
    judge = rubric_judge("Does it answer?", name="answers").named("answers")
    suite = Suite(name="judged", dataset=data, root=tmp_path, graders=[contains("question"), judge],
                  variants=[Variant("v1", flow=ask, model=ModelSettings(model="stub"))])
    rules = [Rule(contains="Does it answer?", structured={"reasoning": "yes", "score": 5})]

    def run(mode: str, base_url: str) -> list[Any]:
        runtime = RuntimeConfig(base_url=base_url, cassette_dir=tmp_path / "cassettes", max_retries=0)
        options = RunOptions(record_mode=mode, runtime=runtime, runs_dir=tmp_path / f"runs-{mode}")
        result = asyncio.run(run_suite(suite, options))
        return [row for row in result.folder.rows()]

    with StubServer(rules=rules) as stub:
        recorded = run("once", stub.base_url)
        url = stub.base_url
    for task in ("t0", "t1", "t2"):
        assert (tmp_path / "cassettes" / "judged" / "_judges" / "answers" / "v1" / f"{task}.json").is_file()
        assert (tmp_path / "cassettes" / "judged" / "v1" / f"{task}.json").is_file()
    replayed = run("none", url)
    for rows in (recorded, replayed):
        scores = {row.task_id: {s.name: (s.value, s.error) for s in row.scores} for row in rows}
        assert all(s["answers"] == (1.0, None) and s['contains(text="question")'][1] is None
                   for s in scores.values()), scores
