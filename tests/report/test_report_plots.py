"""Plots: labelled axes with units, the expected series, and valid PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from harness.analysis.summary import analyse, build_summary
from harness.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _labels(fig: Figure) -> tuple[str, str, str]:
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_title()


def _legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None, "every plot needs a legend"
    return [t.get_text() for t in legend.get_texts()]


def test_score_plot_has_one_bar_series_per_variant_with_error_bars(ab_run: Path) -> None:
    summary = build_summary(ab_run)
    fig = plots.plot_scores(summary)
    ax = fig.axes[0]
    assert _labels(fig) == ("Metric", "Mean score per task (0–1)", "Score by variant (error bars: 95% CI)")
    assert _legend_texts(fig) == ["triage@v1", "triage@v2", "triage@v3"]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 3
    assert all(c.errorbar is not None for c in bars)
    assert [t.get_text() for t in ax.get_xticklabels()] == summary.metrics
    heights = [bar.get_height() for bar in bars[0]]
    assert heights[0] == pytest.approx(summary.metric_row("triage@v1", "accuracy").mean.estimate)  # type: ignore[union-attr]


@pytest.mark.parametrize(("x", "xlabel"), [("cost", "Mean cost per task (USD)"),
                                           ("latency", "Median latency per task (s)")])
def test_quality_scatter_plots_each_variant_at_its_cost_or_latency(ab_run: Path, x: str, xlabel: str) -> None:
    summary = build_summary(ab_run)
    fig = plots.plot_quality_vs(summary, x)
    assert _labels(fig)[:2] == (xlabel, "accuracy (mean per task, 0–1)")
    assert _legend_texts(fig) == ["triage@v1", "triage@v2", "triage@v3"]
    offsets = np.vstack([c.get_offsets() for c in fig.axes[0].collections if c.get_offsets().size])
    degraded = summary.variant_stats("triage@v2")
    expected_x = degraded.cost_usd.mean if x == "cost" else degraded.latency_s.p50  # type: ignore[union-attr]
    assert any(row[0] == pytest.approx(expected_x) for row in offsets)


def test_quality_scatter_rejects_an_unknown_axis(ab_run: Path) -> None:
    with pytest.raises(ValueError):
        plots.plot_quality_vs(build_summary(ab_run), "tokens")


def test_win_loss_grid_counts_every_task() -> None:
    base = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.5, "e": 1.0}
    cand = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.5}
    fig = plots.plot_win_loss(base, cand, "v1", "v2", "accuracy")
    assert _legend_texts(fig) == ["win (1)", "loss (1)", "tie (2)", "missing (1)"]
    xlabel, ylabel, title = _labels(fig)
    assert xlabel.startswith("Task") and ylabel.startswith("Task")
    assert title == "accuracy: v2 vs v1 per task"


def test_win_loss_grid_ticks_are_whole_cells() -> None:
    fig = plots.plot_win_loss({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}, "v1", "v2", "accuracy")  # one row
    fig.canvas.draw()
    ax = fig.axes[0]
    for ticks in (ax.get_xticks(), ax.get_yticks()):
        assert all(float(t).is_integer() for t in ticks), ticks


def test_latency_plot_has_a_histogram_per_variant() -> None:
    fig = plots.plot_latency({"fast": [0.5, 0.6, 0.7, 0.8], "slow": [2.0, 2.5, 3.0, 3.5]})
    assert _labels(fig)[:2] == ("Latency per attempt (s)", "Attempts")
    texts = _legend_texts(fig)
    assert [t.split(" ")[0] for t in texts] == ["fast", "slow"]
    assert "p95" in texts[0]


def test_calibration_plot_annotates_counts(ab_run: Path) -> None:
    (calibration,) = build_summary(ab_run).judge_calibration
    fig = plots.plot_calibration(calibration)
    assert _labels(fig)[:2] == ("Judge label", "Human label")
    cell_texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cell_texts == sorted(["40", "5", "3", "52"])


def test_render_plots_writes_valid_pngs(ab_run: Path, tmp_path: Path) -> None:
    paths = plots.render_plots(analyse(ab_run), tmp_path / "plots")
    assert set(paths) == {"scores", "quality_vs_cost", "quality_vs_latency", "win_loss_triage_v2",
                          "win_loss_triage_v3", "latency", "judge_calibration_1"}
    for path in paths.values():
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), path
        assert 2_000 < len(data) < 200_000, "plots are small"


def test_a_run_without_comparisons_or_calibration_still_plots(make_run_folder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from synthetic_runs import VariantSpec

    run = make_run_folder([VariantSpec("only", 0.5)], n_tasks=5)
    paths = plots.render_plots(analyse(run), tmp_path / "p")
    assert set(paths) == {"scores", "quality_vs_cost", "quality_vs_latency", "latency"}
