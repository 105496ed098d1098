"""The demo project replays offline, exactly as recorded, and finds what the README says it finds.

Every suite under ``evals/`` (and ``evals/release/``) replays from the committed cassettes in
record mode ``none`` (no key, no network: the socket guard would refuse a connection) with no
cassette miss. Its gates give exactly the verdicts listed here: a demo gate that fails is a
finding (the release candidate's regression), and one that should fail but passes is a bug.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.gate import ExitCode, evaluate_gates

ROOT = Path(__file__).resolve().parents[2]
SUITE_FILES = sorted((ROOT / "evals").glob("test_*.py")) + sorted((ROOT / "evals" / "release").glob("test_*.py"))
#: Gates each suite fails on the committed recordings (by gate name and variant): the findings.
EXPECTED_FAILURES: dict[str, set[tuple[str, str | None]]] = {
    "router-release": {("no regression in internal_data", "router@v1-rc2")},
    # The manager loses 8 tickets triage passes and wins 1: its own release question (one-sided,
    # not pooled with the suite's four other pairs) says worse, p = 0.020.
    "support": {("no regression in pass_rate", "manager@v1")},
    # The 135M judge does not agree with the human labels beyond chance: do not trust its scores.
    # And v2's prompts break the error budget set from v1's measured rate (14 of 44 vs 9 of 44).
    "articles": {("judge_kappa >= 0.4", None), ("error_rate <= 0.3", "evaluator_optimizer@v2")},
    # v2's prompts break the error budget set from v1's measured rate (33 of 48 vs 24 of 48 errors).
    "fanout": {("error_rate <= 0.6", "fanout@v2")},
    # Both prompts tell a stranger another customer's name (rd-028), and v2's long policy prompt
    # leaves the refund system worse off than v1's short one.
    "refunds": {("no_leaks == 1", "self_correct@v1"), ("no_leaks == 1", "self_correct@v2"),
                ("no regression in end_state", "self_correct@v2")},
    # Three chats of each prompt end in an error (the agent's output cut at max_tokens), which counts
    # as a failure on every grader, no_leak included (no agent turn leaked); and the shipped prompt
    # settles 6 of 32 customers where the gate asks for half.
    "conversations": {("no_leak == 1", "support_chat@v1"), ("no_leak == 1", "support_chat@v2"),
                      ("pass_rate >= 0.5 [support_chat@v1]", "support_chat@v1")},
}
DEAD_URL = "http://127.0.0.1:9/v1"


def replay(suite_file: Path, runs: Path, **options):
    suite = find_suite(suite_file)
    config = RuntimeConfig(base_url=DEAD_URL, cassette_dir=ROOT / "cassettes")
    return suite, asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=runs,
                                                          concurrency=8, **options)))


def test_every_demo_suite_is_found():
    assert {p.stem for p in SUITE_FILES} >= {"test_support", "test_router", "test_articles", "test_fanout",
                                            "test_refunds", "test_router_release"}


@pytest.mark.parametrize("suite_file", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_replays_without_a_miss_and_its_gates_pass(suite_file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    suite, result = replay(suite_file, tmp_path)
    rows = list(result.folder.rows())
    expected = len(suite.resolved_dataset().tasks()) * len(suite.variants) * suite.epochs
    assert len(rows) == expected
    misses = [f"{r.variant}/{r.task_id}: {r.error.message}" for r in rows if r.error and r.error.kind == "cassette_miss"]
    assert not misses, "\n".join(misses[:5])
    report = evaluate_gates(result.path)
    failed = {(r.gate, r.variant) for r in report.results if r.status != "pass"}
    assert failed == EXPECTED_FAILURES.get(suite.name, set()), "\n".join(report.messages())
    assert report.exit_code == (ExitCode.GATE_FAILED if failed else ExitCode.OK)


def _comparisons(suite_file: Path, runs: Path) -> dict[tuple[str, str], object]:
    from harness.analysis.summary import build_summary

    _, result = replay(suite_file, runs)
    summary = build_summary(result.path)
    return {(c.candidate, c.metric): c.result for c in summary.comparisons}


def _headline_script() -> Any:
    spec = importlib.util.spec_from_file_location("headline_script", ROOT / "scripts" / "headline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_finds_a_prompt_that_helps_and_a_release_that_regressed(tmp_path: Path, monkeypatch):
    """The headline findings on the recordings: router v2 routes better, the release candidate is worse.

    Router v2 wins 13 tickets v1 loses and loses 3 (58 tickets, errors as failures): McNemar
    p ≈ 0.021, ≈ 0.043 after Holm's correction over router@v2's two gated metrics (routing and
    pass_rate): *better*. Its gates ask "worse?" one-sided; the improvement is labelled on the
    two-sided p adjusted in that family.
    """
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    router = _comparisons(ROOT / "evals" / "test_router.py", tmp_path / "router")
    helped = [r for (candidate, _), r in router.items() if candidate == "router@v2" and r.test == "mcnemar-exact"]
    assert helped and all(r.candidate_only > r.baseline_only for r in helped)
    improved = router[("router@v2", "pass_rate")]
    assert improved.label == "better" and improved.p_two_sided_adjusted < 0.05
    # The headline says the gain once (pass_rate is routing's numbers again) and names the p it rests on.
    from harness.analysis.summary import build_summary

    (run,) = (tmp_path / "router").iterdir()
    lines = _headline_script().comparisons(build_summary(run).model_dump(mode="json"), "better")
    gains = [line for line in lines if "router@v2 vs router@v1" in line and "->" in line]
    assert len(gains) == 1 and "two-sided, p=0.0425 after Holm" in gains[0] and "worse?" not in gains[0], gains
    release = _comparisons(ROOT / "evals" / "release" / "test_router_release.py", tmp_path / "release")
    assert release[("router@v1-rc2", "internal_data")].label == "worse"
    assert release[("router@v1-rc1", "internal_data")].label == "no detectable difference"


def test_the_demo_finds_a_prompt_that_breaks_the_fan_out_and_one_that_changes_nothing(tmp_path: Path, monkeypatch):
    """fanout@v2's classifiers write invalid JSON on 33 of 48 tickets (v1: 24): fewer attempts reach
    three finished branches, which the paired test calls *worse* (11 tickets lost, 2 won). The
    triage prompt v2 is no detectable difference on 46 tickets: the honest answer at that size.
    """
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fanout = _comparisons(ROOT / "evals" / "test_fanout.py", tmp_path / "fanout")
    branches = fanout[("fanout@v2", "three_branches")]
    assert branches.label == "worse" and (branches.baseline_only, branches.candidate_only) == (11, 2)
    support = _comparisons(ROOT / "evals" / "test_support.py", tmp_path / "support")
    assert support[("triage@v2", "pass_rate")].label == "no detectable difference"
    # Handoffs or a manager? The manager's release question is its own family (it used to be
    # pooled with the suite's four other pairs: p = 0.039 two-sided, 0.078 after Holm, "not
    # confirmed"); asked one-sided on its own, the manager is worse: p = 0.020.
    manager = support[("manager@v1", "pass_rate")]
    assert manager.alternative == "less" and manager.p_adjusted == manager.p_value < 0.05
    assert manager.label == "worse" and (manager.baseline_only, manager.candidate_only) == (8, 1)
    # Every design answers the same tripwires question, guarded or not.
    assert support[("triage@v1", "tripwires")].label == "no detectable difference"


def test_the_demo_finds_that_a_longer_refund_prompt_hurts_a_small_model(tmp_path: Path, monkeypatch):
    """self_correct@v2 spells out the refund policy step by step; on the 135M model the refund
    system ends up worse than under v1's short prompt (end_state 0.52 -> 0.40 on 44 requests)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    refunds = _comparisons(ROOT / "evals" / "test_refunds.py", tmp_path / "refunds")
    assert refunds[("self_correct@v2", "end_state")].label == "worse"
    assert refunds[("self_correct@v2", "pass_rate")].label == "no detectable difference"


def test_the_demo_compares_two_ways_to_write_and_each_ones_prompt_versions(tmp_path: Path, monkeypatch):
    """The articles suite declares its questions: each flow's v2 against its v1, and the chain
    against the loop that ships. The chain finishes every request where the loop errors on 9
    (errors count as failures), which makes it *better* on no_leaks; no prompt change is a finding."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from harness.analysis.summary import build_summary

    _, result = replay(ROOT / "evals" / "test_articles.py", tmp_path)
    summary = build_summary(result.path)
    assert summary.compared_pairs == [("evaluator_optimizer@v1", "evaluator_optimizer@v2"), ("chain@v1", "chain@v2"),
                                      ("evaluator_optimizer@v1", "chain@v1")]
    verdicts = {(c.baseline, c.candidate, c.metric): c.result.label for c in summary.comparisons}
    assert verdicts[("evaluator_optimizer@v1", "chain@v1", "no_leaks")] == "better"
    assert {label for (base, _, _), label in verdicts.items() if base != "evaluator_optimizer@v1"} == {
        "no detectable difference"}


#: The demo's production capture (scripts/production_demo.sh): the traces, the rows imported from them
#: and their recordings, all committed.
CAPTURE = ROOT / "traces" / "shopdesk"
PRODUCTION_FILES = [CAPTURE, ROOT / "datasets" / "support_production.jsonl", ROOT / "cassettes" / "support-production"]
#: What a secret would look like there: the key the app was served with (scripts/production/drive.py),
#: an OpenAI-shaped key, and the headers that carry keys.
SECRET_SHAPES = re.compile(r"local-no-key|sk-[A-Za-z0-9_-]{12,}|Bearer |\"authorization\"|\"api-key\"|x-api-key",
                           re.IGNORECASE)


def test_the_committed_production_capture_holds_no_secret():
    files = [p for root in PRODUCTION_FILES for p in ([root] if root.is_file() else sorted(root.rglob("*")))
             if p.is_file()]
    assert len(files) > 10 and any(p.suffix == ".jsonl" and p.parent == CAPTURE for p in files)
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files
             for m in SECRET_SHAPES.finditer(p.read_text(encoding="utf-8", errors="replace"))]
    assert not found, found[:5]


def test_the_production_split_replays_exactly_as_production_ran_it(tmp_path: Path, monkeypatch):
    """Every imported row, replayed offline from its triage@captured recording, has the trajectory
    its trace captured (the check `harness traces import` ran when the rows were imported)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from harness.capture.check import replay_check
    from harness.capture.record import read_traces

    suite = find_suite(ROOT / "evals" / "test_support_production.py")
    rows = {task.id for task in suite.resolved_dataset().tasks()}
    traces = [t for t in read_traces(CAPTURE) if t.trace_id in rows]
    assert len(traces) == len(rows) >= 10
    _, checks = asyncio.run(replay_check(suite, suite.variant("triage@captured"), traces, ROOT / "cassettes", tmp_path))
    assert len(checks) == len(rows) and [c.difference for c in checks if not c.equal] == []


def test_the_demo_measures_the_prompt_fix_on_the_failures_production_saw(tmp_path: Path, monkeypatch):
    """32 traces imported from the ShopDesk app's production run (errors, guardrails that fired,
    thumbs-down), replayed as triage@captured, against the triage prompt v2 on the same tickets:
    not one ticket changes on pass_rate (0.16 -> 0.16), no detectable difference; v2 fixes one
    wrongly fired output guardrail and fires it wrongly on three other tickets. The headline says so."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from harness.analysis.summary import build_summary

    _, result = replay(ROOT / "evals" / "test_support_production.py", tmp_path)
    summary = build_summary(result.path)
    found = {c.metric: c.result for c in summary.comparisons if (c.baseline, c.candidate) == ("triage@captured",
                                                                                               "triage@v2")}
    fix = found["pass_rate"]
    assert (fix.n, fix.baseline_only, fix.candidate_only, fix.label) == (32, 0, 0, "no detectable difference")
    assert round(fix.baseline_mean, 2) == round(fix.candidate_mean, 2) == 0.16
    guards = found["tripwires"]
    assert (guards.candidate_only, guards.baseline_only, guards.label) == (1, 3, "no detectable difference")
    lines = _headline_script().production_fix(summary.model_dump(mode="json"))
    assert lines[0].startswith("triage@v2 vs triage@captured on pass_rate: 0.16 -> 0.16, no detectable difference")
    assert any(line.startswith("triage@v2 vs triage@captured on tripwires: 0.94 -> 0.88") for line in lines), lines


def test_the_demo_chats_with_simulated_customers_and_judges_the_shop_afterwards(tmp_path: Path, monkeypatch):
    """32 customers, both sides played by the 135M model: v2's long policy prompt is no detectable
    difference on the shop's end state (0.64 -> 0.63, one-sided p = 0.47); 29 of 32 chats of each
    prompt run to the turn limit and 3 end in an error, and the no-leak gate's failures are those
    errors, said as such, not leaks."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from harness.analysis.summary import build_summary

    _, result = replay(ROOT / "evals" / "test_conversations.py", tmp_path)
    summary = build_summary(result.path)
    verdicts = {(c.candidate, c.metric): c.result for c in summary.comparisons}
    end_state = verdicts[("support_chat@v2", "end_state")]
    assert end_state.label == "no detectable difference" and end_state.alternative == "less"
    assert {c.variant: c.ended for c in summary.conversations} == {
        "support_chat@v1": {"max_turns": 29, "error": 3}, "support_chat@v2": {"max_turns": 29, "error": 3}}
    leaks = [r for r in evaluate_gates(result.path).results if r.gate == "no_leak == 1"]
    assert len(leaks) == 2 and all("each by a task error, counted as a failure" in r.message for r in leaks)
