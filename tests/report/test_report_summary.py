"""RunSummary: what a report says about a run, before any rendering."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic_runs import VariantSpec

from harness.analysis.summary import ReportError, RunSummary, analyse, build_summary
from harness.core.results import load_run


def test_leaderboard_has_a_row_per_variant_and_metric(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    assert summary.metrics == ["accuracy", "helpfulness", "pass_rate"]
    assert {(r.variant, r.metric) for r in summary.leaderboard} == {
        (v, m) for v in ("triage@v1", "triage@v2", "triage@v3") for m in summary.metrics
    }
    for row in summary.leaderboard:
        assert row.mean.low <= row.mean.estimate <= row.mean.high


def test_task_errors_count_as_failures_and_the_completed_only_view_leaves_them_out(ab_run: Path) -> None:
    analysis = analyse(ab_run)
    summary = analysis.summary
    degraded = summary.metric_row("triage@v2", "accuracy")
    assert degraded is not None and degraded.completed_mean is not None
    assert degraded.task_errors == 2
    assert degraded.n_tasks == 60 and degraded.completed_tasks == 58
    values = analysis.data.task_values("triage@v2", "accuracy")
    assert values["task-0003"] == 0.0 and values["task-0007"] == 0.0
    assert degraded.mean.estimate == pytest.approx(degraded.completed_mean.estimate * 58 / 60)
    assert "Errors count as failures" in summary.errors_counted
    stats_ = summary.variant_stats("triage@v2")
    assert stats_ is not None and stats_.errors_by_kind == {"timeout": 2}
    assert stats_.error_rate == pytest.approx(2 / 60)


def test_pass_rate_counts_task_errors_as_failures_and_completed_only_is_the_labelled_second_view(
        make_run_folder: Callable[..., Path]) -> None:
    crashing = frozenset(f"task-{i:04d}" for i in range(0, 40, 2))  # half the tasks crash
    run = make_run_folder([VariantSpec("steady", 0.9), VariantSpec("crashy", 1.0, error_tasks=crashing)],
                          n_tasks=40)
    summary = build_summary(run)
    pass_rate = summary.metric_row("crashy", "pass_rate")
    assert pass_rate is not None and pass_rate.completed_mean is not None
    assert pass_rate.mean.estimate == pytest.approx(0.5) and pass_rate.n_tasks == 40
    assert pass_rate.completed_mean.estimate == 1.0 and pass_rate.completed_tasks == 20, "the 20 finished all passed"
    comparison = next(c for c in summary.comparisons if c.metric == "pass_rate")
    assert comparison.result.n == 40 and comparison.result.diff < 0, "crashing on half the tasks is worse than 90%"
    assert comparison.result.label == "worse"


def test_grader_errors_are_counted_per_metric(ab_run: Path) -> None:
    frame = load_run(ab_run)
    expected = int(((frame["variant"] == "triage@v2") & frame["grader_error"].notna()).sum())
    assert expected > 0
    summary = build_summary(ab_run)
    assert summary.metric_row("triage@v2", "helpfulness").grader_errors == expected  # type: ignore[union-attr]
    assert summary.metric_row("triage@v2", "accuracy").grader_errors == 0  # type: ignore[union-attr]
    helpfulness = summary.metric_row("triage@v2", "helpfulness")
    assert helpfulness.n_tasks == 60  # type: ignore[union-attr]
    assert helpfulness.completed_tasks == 58 - expected  # type: ignore[union-attr]
    errored = frame[(frame["variant"] == "triage@v2") & frame["grader_error"].notna()]["task_id"]
    values = analyse(ab_run).data.task_values("triage@v2", "helpfulness")
    assert all(values[t] == 0.0 for t in errored), "a grader error scores 0 on its metric"
    passes = analyse(ab_run).data.task_values("triage@v2", "pass_rate")
    assert all(passes[t] == 0.0 for t in errored), "and the attempt is not passed"


def test_leaderboard_means_match_pandas_on_load_run(ab_run: Path) -> None:
    frame = load_run(ab_run)
    ok = frame[(frame["grader_name"] == "accuracy") & frame["error_kind"].isna() & (frame["variant"] == "triage@v1")]
    assert build_summary(ab_run).metric_row("triage@v1", "accuracy").mean.estimate == pytest.approx(  # type: ignore[union-attr]
        ok["value"].astype(float).mean())


def test_comparisons_are_against_the_manifest_baseline_with_holm_stated(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    assert summary.baseline == "triage@v1"
    assert {c.candidate for c in summary.comparisons} == {"triage@v2", "triage@v3"}
    # one family per candidate, named in the text
    assert "Holm" in summary.correction and "triage@v2 vs triage@v1" in summary.correction
    assert "triage@v3 vs triage@v1" in summary.correction and "Tarone" in summary.correction
    by = {(c.candidate, c.metric): c.result for c in summary.comparisons}
    assert by[("triage@v2", "accuracy")].label == "worse"
    assert by[("triage@v2", "accuracy")].test == "mcnemar-exact"
    assert by[("triage@v2", "accuracy")].family == "triage@v2 vs triage@v1: 3 tests"
    assert by[("triage@v3", "accuracy")].label == "no detectable difference"
    # triage@v3 scores exactly as the baseline on accuracy: no discordant task, so not in its family
    assert by[("triage@v3", "accuracy")].excluded is not None and "Tarone" in by[("triage@v3", "accuracy")].excluded
    for result in by.values():
        assert result.excluded is not None or (result.p_adjusted is not None and result.p_adjusted >= result.p_value)


def test_without_a_baseline_variant_the_first_variant_is_the_baseline(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("x", 0.7), VariantSpec("y", 0.7)], n_tasks=10)
    assert build_summary(run).baseline == "x"


def test_vs_another_variant_of_the_same_run(ab_run: Path) -> None:
    summary = build_summary(ab_run, vs="triage@v3")
    assert summary.vs_kind == "variant" and summary.baseline == "triage@v3"
    assert {c.candidate for c in summary.comparisons} == {"triage@v1", "triage@v2"}


def test_vs_an_unknown_variant_is_an_error(ab_run: Path) -> None:
    with pytest.raises(ReportError, match="triage@v9"):
        build_summary(ab_run, vs="triage@v9")


def test_vs_another_run_pairs_the_same_variant(make_run_folder: Callable[..., Path]) -> None:
    before = make_run_folder([VariantSpec("triage@v2", 0.9)], n_tasks=80, seed=1)
    after = make_run_folder([VariantSpec("triage@v2", 0.5)], n_tasks=80, seed=1)
    summary = build_summary(after, vs=before)
    assert summary.vs_kind == "run" and summary.vs is not None
    comparison = next(c for c in summary.comparisons if c.metric == "accuracy")
    assert comparison.baseline.endswith(":triage@v2") and comparison.candidate == "triage@v2"
    assert comparison.result.label == "worse"
    assert summary.flips_total > 0 and all(f.direction == "pass→fail" for f in summary.flips)


def test_flips_list_tasks_that_changed_between_pass_and_fail(ab_run: Path) -> None:
    analysis = analyse(ab_run)
    before = analysis.data.task_passes("triage@v1")
    after = analysis.data.task_passes("triage@v2")
    expected = {t for t in before.keys() & after.keys() if before[t] != after[t]}
    got = {f.task_id for f in analysis.summary.flips if f.candidate == "triage@v2" and f.metric == "pass_rate"}
    assert got == expected and expected


def test_flips_are_counted_per_metric_not_only_on_pass_rate(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    assert set(summary.flips_by_metric) >= {"accuracy", "helpfulness", "pass_rate"}
    accuracy = {f.task_id for f in summary.flips if f.metric == "accuracy" and f.candidate == "triage@v2"}
    assert summary.flips_by_metric["accuracy"] >= len(accuracy) > 0


def test_cost_tokens_and_latency_per_task(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    fast, slow = summary.variant_stats("triage@v1"), summary.variant_stats("triage@v2")
    assert fast is not None and slow is not None
    assert slow.latency_s.p50 > fast.latency_s.p50
    assert slow.cost_usd.mean > fast.cost_usd.mean
    assert fast.latency_s.p50 <= fast.latency_s.p95
    assert fast.tokens.mean == 500


def test_single_epoch_runs_have_no_pass_at_k(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    assert summary.pass_at_k == [] and summary.stability == []


def test_epochs_give_pass_at_k_and_stability(epochs_run: Path) -> None:
    summary = build_summary(epochs_run)
    assert summary.run.epochs == 4
    assert {p.k for p in summary.pass_at_k if p.variant == "a"} == {1, 2, 3, 4}
    for p in summary.pass_at_k:
        assert p.pass_hat_k <= p.pass_at_k
    at1 = next(p for p in summary.pass_at_k if p.variant == "a" and p.k == 1)
    assert at1.pass_at_k == pytest.approx(summary.metric_row("a", "pass_rate").mean.estimate)  # type: ignore[union-attr]
    stability = {s.variant: s for s in summary.stability}
    assert stability["a"].stable_pass + stability["a"].stable_fail + stability["a"].flaky == 20
    assert len(stability["b"].flaky_tasks) == stability["b"].flaky


def test_errored_epochs_are_failed_attempts_in_pass_at_k_and_stability(make_run_folder: Callable[..., Path]) -> None:
    """A variant that passes every attempt it finishes but errors on some epochs is not 100% at pass@k.

    Leaving errored epochs out would score each task on its finished attempts only (all passes),
    so pass@1 and pass^k would both read 1.0 and every task "stable pass": the crashes would vanish.
    """
    run = make_run_folder([VariantSpec("steady", accuracy=1.0), VariantSpec("crashy", accuracy=1.0,
                                                                          task_error_rate=0.4)],
                          n_tasks=30, epochs=4, seed=11)
    frame = load_run(run)
    crashy = frame[frame["variant"] == "crashy"].drop_duplicates(["task_id", "epoch"])
    finished = crashy.groupby("task_id")["error_kind"].agg(lambda kinds: int(kinds.isna().sum()))
    assert 0 < (finished < 4).sum() < 30, "the seed gives some tasks errored epochs, not all"
    summary = build_summary(run)
    by_k = {p.k: p for p in summary.pass_at_k if p.variant == "crashy"}
    assert by_k[1].pass_at_k == pytest.approx((finished / 4).mean())
    assert by_k[4].pass_hat_k == pytest.approx((finished == 4).mean()), "pass^4: every epoch finished"
    assert by_k[4].pass_at_k == pytest.approx((finished > 0).mean()), "pass@4: at least one finished"
    assert {p.k: p.pass_at_k for p in summary.pass_at_k if p.variant == "steady"} == {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}
    stability = {s.variant: s for s in summary.stability}["crashy"]
    assert stability.stable_pass == int((finished == 4).sum())
    assert stability.stable_fail == int((finished == 0).sum())
    assert stability.flaky == int(((finished > 0) & (finished < 4)).sum())


def test_epoch_comparisons_use_task_means_so_n_counts_tasks(epochs_run: Path) -> None:
    comparison = next(c for c in build_summary(epochs_run).comparisons if c.metric == "pass_rate")
    assert comparison.result.n == 20
    assert comparison.result.test == "paired-t"


def test_judge_calibration_hook_reads_manifest_totals(ab_run: Path) -> None:
    (calibration,) = build_summary(ab_run).judge_calibration
    assert calibration.n == 100
    assert calibration.agreement == pytest.approx(0.92)
    assert calibration.kappa == pytest.approx(0.8383, abs=1e-3)


def test_summary_survives_a_json_round_trip(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    text = summary.model_dump_json()
    assert "NaN" not in text
    again = RunSummary.model_validate(json.loads(text))
    assert again.leaderboard[0].mean.estimate == summary.leaderboard[0].mean.estimate
    assert not math.isnan(again.comparisons[0].result.diff)


def test_a_suite_that_declares_its_comparisons_gets_exactly_those(make_run_folder: Callable[..., Path]) -> None:
    """Each pair is its own question (its own Holm family); every report and the gate agree on them."""
    from harness.report.markdown import render_markdown

    run = make_run_folder([VariantSpec("loop@v1", 0.85), VariantSpec("loop@v2", 0.85),
                           VariantSpec("chain@v1", 0.85), VariantSpec("chain@v2", 0.45)],
                          n_tasks=80, baseline_variant="loop@v1",
                          comparisons=[("loop@v1", "loop@v2"), ("chain@v1", "chain@v2"), ("loop@v1", "chain@v1")])
    summary = build_summary(run)
    assert summary.compared_pairs == [("loop@v1", "loop@v2"), ("chain@v1", "chain@v2"), ("loop@v1", "chain@v1")]
    worse = {(c.baseline, c.candidate) for c in summary.comparisons if c.result.label == "worse"}
    assert worse == {("chain@v1", "chain@v2")}
    assert summary.baseline is None and summary.shipping_variant == "loop@v1"
    text = render_markdown(summary)
    assert "## Comparisons (each row names its baseline)" in text
    assert "> Comparisons: `loop@v2` vs `loop@v1`, `chain@v2` vs `chain@v1`, `chain@v1` vs `loop@v1`." in text
    assert "loop@v1 (baseline)" in text
    # --vs still asks one question of every variant
    assert {c.baseline for c in build_summary(run, vs="chain@v1").comparisons} == {"chain@v1"}


def test_a_declared_comparison_the_run_cannot_make_is_said_not_dropped(make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("loop@v1", 0.85), VariantSpec("chain@v2", 0.45)], n_tasks=20,
                          baseline_variant="loop@v1", comparisons=[("loop@v1", "chain@v2"), ("chain@v1", "chain@v2")])
    summary = build_summary(run)
    assert summary.compared_pairs == [("loop@v1", "chain@v2")]
    assert any("comparison chain@v2 vs chain@v1 not made" in note and "chain@v1" in note for note in summary.notes)
