"""Report figures (matplotlib's Agg canvas): few and small, so they never dominate a report's run time.

Each ``plot_*`` function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
global figure state, safe in threads and under pytest), so tests can inspect axes and series
before anything is saved; :func:`render_plots` saves the set a report embeds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from harness.analysis.per_task import TaskValues
from harness.analysis.run_data import PASS_RATE, TASK_RATES, JudgeCalibration
from harness.analysis.summary import Analysis, RunSummary
from harness.core.names import slugify

__all__ = [
    "plot_scores",
    "plot_quality_vs",
    "plot_win_loss",
    "plot_latency",
    "plot_calibration",
    "render_plots",
    "primary_metric",
]

log = logging.getLogger(__name__)

DPI = 80
SIZE = (6.4, 3.8)
WIN, LOSS, TIE, MISSING = "#2e7d32", "#c62828", "#9e9e9e", "#ffffff"


def _figure(size: tuple[float, float] = SIZE, right_in: float = 0.2) -> Figure:
    """A figure on the Agg canvas with fixed margins in inches (labels never clip at any height).

    Fixed margins, not constrained layout: the layout engine costs more than drawing the plot.
    """
    width, height = size
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)  # the Agg canvas, attached per figure: no pyplot, no global backend switch
    fig.subplots_adjust(left=0.8 / width, right=1 - right_in / width, bottom=0.6 / height, top=1 - 0.4 / height)
    return fig


def _err(estimate: float, low: float, high: float) -> tuple[float, float]:
    if any(math.isnan(x) for x in (estimate, low, high)):
        return 0.0, 0.0
    return max(0.0, estimate - low), max(0.0, high - estimate)


def _face_rgba(points: PathCollection) -> tuple[float, float, float, float]:
    """The colour a scatter drew its (first) point in, to draw its error bar the same.

    ``get_facecolor`` returns an (N, 4) RGBA array; its stub promises any colour spec or a
    sequence of them, so the first row is read as four floats here.
    """
    red, green, blue, alpha = np.asarray(points.get_facecolor(), dtype=float)[0].tolist()
    return red, green, blue, alpha


def primary_metric(summary: RunSummary) -> str:
    """The metric plots lead with: the first score name, else the task pass rate."""
    return next((m for m in summary.metrics if m not in TASK_RATES), PASS_RATE)


def plot_scores(summary: RunSummary) -> Figure:
    """Mean per-task score by variant and metric, with 95% interval error bars."""
    fig = _figure()
    ax = fig.add_subplot()
    variants = summary.run.variants
    metrics = summary.metrics
    width = 0.8 / max(1, len(variants))
    x = np.arange(len(metrics))
    for i, variant in enumerate(variants):
        rows = [summary.metric_row(variant, m) for m in metrics]
        means = [r.mean.estimate if r else math.nan for r in rows]
        errs = np.array([_err(r.mean.estimate, r.mean.low, r.mean.high) if r else (0.0, 0.0) for r in rows]).T
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, np.nan_to_num(means), width, yerr=errs, capsize=3,
               label=variant)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("Metric")
    ax.set_ylabel("Mean score per task (0–1)")
    ax.set_title("Score by variant (error bars: 95% CI)")
    ax.legend(title="Variant", fontsize="small")
    return fig


def plot_quality_vs(summary: RunSummary, x: str = "cost", metric: str | None = None) -> Figure:
    """Quality against mean cost (USD per task) or median latency (s per task), one point per variant."""
    if x not in ("cost", "latency"):
        raise ValueError(f"x must be 'cost' or 'latency', got {x!r}")
    metric = metric or primary_metric(summary)
    fig = _figure()
    ax = fig.add_subplot()
    unpriced = []
    for variant in summary.run.variants:
        row, stats_ = summary.metric_row(variant, metric), summary.variant_stats(variant)
        if row is None or stats_ is None or math.isnan(row.mean.estimate):
            continue
        if x == "cost" and stats_.unpriced_calls:
            unpriced.append(variant)  # plotted at $0 it would look free: named instead
            continue
        xv = stats_.cost_usd.mean if x == "cost" else stats_.latency_s.p50
        err = np.array([_err(row.mean.estimate, row.mean.low, row.mean.high)]).T
        points = ax.scatter([xv], [row.mean.estimate], label=variant, zorder=3)
        # the error bar is drawn unlabelled: a labelled errorbar makes the legend deep-copy it (slow)
        ax.errorbar([xv], [row.mean.estimate], yerr=err, fmt="none", capsize=3, ecolor=_face_rgba(points))
    ax.margins(x=0.15, y=0.1)
    ax.locator_params(nbins=5)  # every tick label is laid-out text: the main cost of a small figure
    ax.set_xlabel("Mean cost per task (USD)" if x == "cost" else "Median latency per task (s)")
    ax.set_ylabel(f"{metric} (mean per task, 0–1)")
    ax.set_title(f"{metric} vs {'cost' if x == 'cost' else 'latency'} (error bars: 95% CI)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="Variant", fontsize="small")
    if unpriced:
        ax.text(0.02, 0.02, f"price unknown (not plotted): {', '.join(unpriced)}", transform=ax.transAxes,
                fontsize="small", color="#9a6700", va="bottom")
    return fig


def plot_win_loss(baseline: Mapping[str, float], candidate: Mapping[str, float], baseline_label: str,
                  candidate_label: str, metric: str) -> Figure:
    """Every task as a cell: green where the candidate scored higher, red lower, grey the same."""
    base, cand = TaskValues.from_mapping(baseline), TaskValues.from_mapping(candidate)
    same = np.array_equal(base.ids, cand.ids)
    tasks = base.ids if same else np.array(sorted({*base.ids.tolist(), *cand.ids.tolist()}), dtype=object)
    n = len(tasks)
    cols = max(1, math.ceil(math.sqrt(n * 2)))
    rows = max(1, math.ceil(n / cols))
    palette = [MISSING, WIN, LOSS, TIE]
    # cell codes as arrays (a look-up per task cost seconds at 500,000 tasks): 0 missing, 1 win, 2 loss, 3 tie
    sides = []
    for side in (base, cand):
        at = pd.Index(tasks).get_indexer(side.ids)
        values, present = np.zeros(n), np.zeros(n, bool)
        values[at], present[at] = side.numbers.astype(float), True
        sides.append((values, present))
    (before, had), (after, has) = sides
    code = np.where(~(had & has), 0, np.where(after > before, 1, np.where(after < before, 2, 3)))
    flat = np.full(rows * cols, -1, dtype=int)
    flat[:n] = code
    grid = flat.reshape(rows, cols)
    counts = dict(zip(["missing", "win", "loss", "tie"], np.bincount(code, minlength=4).tolist(), strict=True))
    fig = _figure((7.2, max(2.6, min(6.0, 1.2 + rows * 0.25))), right_in=1.6)
    ax = fig.add_subplot()
    cells = np.ma.masked_less(grid, 0)  # cells past the last task stay blank
    ax.imshow(cells, cmap=ListedColormap(palette), vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    for axis in (ax.xaxis, ax.yaxis):  # cells are whole tasks: no tick between two of them
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel(f"Task (column; {cols} per row, sorted by task id)")
    ax.set_ylabel("Task (row)")
    ax.set_title(f"{metric}: {candidate_label} vs {baseline_label} per task")
    handles = [Patch(color=WIN, label=f"win ({counts['win']})"), Patch(color=LOSS, label=f"loss ({counts['loss']})"),
               Patch(color=TIE, label=f"tie ({counts['tie']})")]
    if counts["missing"]:
        handles.append(Patch(facecolor=MISSING, edgecolor="black", label=f"missing ({counts['missing']})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def plot_latency(latencies: Mapping[str, Sequence[float] | np.ndarray]) -> Figure:
    """Latency distribution per variant (step histograms on shared bins)."""
    fig = _figure()
    ax = fig.add_subplot()
    values = {v: np.asarray(x, dtype=float) for v, x in latencies.items() if len(x)}
    if values:
        everything = np.concatenate(list(values.values()))
        bins = np.histogram_bin_edges(everything, bins=min(40, max(5, int(math.sqrt(everything.size)))))
        for variant, data in values.items():
            p95 = float(np.percentile(data, 95))
            ax.hist(data, bins=bins.tolist(), histtype="step", linewidth=1.5, label=f"{variant} (p95 {p95:.2f} s)")
        ax.legend(title="Variant", fontsize="small")
    ax.locator_params(nbins=6)
    ax.set_xlabel("Latency per attempt (s)")
    ax.set_ylabel("Attempts")
    ax.set_title("Latency distribution")
    return fig


def plot_calibration(calibration: JudgeCalibration) -> Figure:
    """The judge's confusion matrix against human labels, with counts in the cells."""
    matrix = np.asarray(calibration.confusion or [[0]], dtype=float)
    labels = calibration.labels or [str(i) for i in range(matrix.shape[0])]
    fig = _figure((5.2, 4.2), right_in=0.3)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{int(count)}", ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("Judge label")
    ax.set_ylabel("Human label")
    kappa = "n/a" if calibration.kappa is None else f"{calibration.kappa:.2f}"
    ax.set_title(f"Judge calibration: {calibration.grader or 'judge'} (κ = {kappa})")
    fig.colorbar(image, ax=ax, label="Items")
    return fig


def render_plots(analysis: Analysis, out_dir: Path, max_pairs: int = 4) -> dict[str, Path]:
    """Save the report's figures as PNG under ``out_dir``; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = analysis.summary
    metric = primary_metric(summary)
    figures: dict[str, Figure] = {
        "scores": plot_scores(summary),
        "quality_vs_cost": plot_quality_vs(summary, "cost", metric),
        "quality_vs_latency": plot_quality_vs(summary, "latency", metric),
    }
    for base, cand in analysis.pairs[:max_pairs]:
        figures[f"win_loss_{slugify(cand.label, keep='-_.')}"] = plot_win_loss(
            base.data.task_values(base.variant, metric), cand.data.task_values(cand.variant, metric),
            base.label, cand.label, metric)
    attempts = analysis.data.attempts
    figures["latency"] = plot_latency({v: attempts.loc[attempts["variant"] == v, "latency_s"].to_numpy(dtype=float)
                                       for v in analysis.data.variants})
    for i, calibration in enumerate(summary.judge_calibration):
        if calibration.confusion:
            figures[f"judge_calibration_{i + 1}"] = plot_calibration(calibration)
    paths: dict[str, Path] = {}
    for name, fig in figures.items():
        path = out_dir / f"{name}.png"
        fig.savefig(path, format="png")
        paths[name] = path
    log.debug("saved %d plots to %s", len(paths), out_dir)
    return paths
