"""Write every report file for a run folder into ``<run>/report/`` (or ``out_dir``).

``report.md``, ``report.html``, ``summary.json``, ``results.csv``, ``results.parquet`` and
``plots/*.png``. The run folder is read once; every file is written from the same
:class:`~harness.analysis.summary.Analysis`, so they cannot disagree.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harness.analysis.export import EXPORT_SCHEMA, export_table
from harness.analysis.run_data import RunData, load_run_data
from harness.analysis.summary import analyse
from harness.analysis.verdict import GateReport
from harness.core.atomic import write_text_atomic
from harness.core.sidecar import iter_batches
from harness.report.html import render_html
from harness.report.markdown import render_markdown

__all__ = ["ReportPaths", "write_report"]

log = logging.getLogger(__name__)

#: Rows of the export converted at a time: the per-grader copy of the run in memory stays a few MB
#: (100,000 at a time added 270 MB to a 100k-row report, bench/analysis_scale.py).
EXPORT_BATCH = 10_000


@dataclass(frozen=True)
class ReportPaths:
    """Where each report file went."""

    root: Path
    markdown: Path
    html: Path
    summary_json: Path
    results_csv: Path
    results_parquet: Path
    plots: dict[str, Path] = field(default_factory=dict)
    gates: GateReport | None = None
    #: baseline-run tasks the run lacks (``vs`` another run): the run is partial against it
    partial_against_baseline: list[str] = field(default_factory=list)


def _write_tables(run: Path, csv_path: Path, parquet_path: Path, cache: bool) -> None:
    """CSV and Parquet straight from Arrow, one row group at a time: a 1M-row run is never a pandas frame
    (Arrow's CSV writer is also an order of magnitude faster than pandas')."""
    with pacsv.CSVWriter(csv_path, EXPORT_SCHEMA) as csv, pq.ParquetWriter(parquet_path, EXPORT_SCHEMA) as parquet:
        for batch in iter_batches(run, cache=cache, rows=EXPORT_BATCH):
            part = export_table(pa.Table.from_batches([batch])).cast(EXPORT_SCHEMA)
            csv.write_table(part)
            parquet.write_table(part)


def write_report(run_folder: str | Path | RunData, out_dir: str | Path | None = None, vs: str | Path | None = None,
                 gates: GateReport | None = None, *, plots: bool = True,
                 candidates: Sequence[str] | None = None, baseline: str | Path | None = None,
                 allow_dataset_change: bool = False) -> ReportPaths:
    """Write the report files and return their paths.

    ``vs``: another run folder or a variant of this run to compare against (default: the
    manifest's baseline variant). ``gates``: an evaluated :class:`GateReport`
    (:func:`harness.gate.evaluate_gates`) whose results the Markdown and HTML include; comparisons a
    no-regression gate also makes are decided in the gate's family by the same function ``harness
    gate`` uses (``baseline``: the baseline run the gates were evaluated against, ``--baseline``). ``candidates``: compare only these variants. ``plots=False`` skips the
    PNGs (the HTML then has none). ``run_folder`` may be a run already read with
    :func:`~harness.analysis.run_data.load_run_data` (the CLI reads it once for gates and report).
    """
    started = time.perf_counter()
    data = run_folder if isinstance(run_folder, RunData) else load_run_data(run_folder)
    gate_report = gates
    analysis = analyse(data, vs, candidates=candidates, baseline=baseline, allow_dataset_change=allow_dataset_change)
    root = Path(out_dir) if out_dir is not None else data.path / "report"
    root.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(root=root, markdown=root / "report.md", html=root / "report.html",
                        summary_json=root / "summary.json", results_csv=root / "results.csv",
                        results_parquet=root / "results.parquet", gates=gate_report,
                        partial_against_baseline=analysis.summary.partial_against_baseline)

    plot_job = None
    if plots:  # first, in a child process (harness.report.plot_process), drawn while the rest is written
        from harness.report.plot_process import start_plots  # matplotlib only when plots are wanted

        plot_job = start_plots(analysis, root / "plots")
    for read in (data, analysis.vs_data):  # the summary is made (and the plots have their copy)
        if read is not None:
            read.forget_derived()
    _write_tables(data.path, paths.results_csv, paths.results_parquet, data.cache != "off")

    summary_doc: dict[str, Any] = analysis.summary.model_dump(mode="json")
    if gate_report is not None:
        summary_doc["gates"] = gate_report.model_dump(mode="json")
    write_text_atomic(paths.summary_json, json.dumps(summary_doc, indent=2, ensure_ascii=False))

    # the HTML reads and renders its rows first and asks for the plots after, while they are drawn
    page = render_html(analysis, gate_report, plot_job.paths if plot_job is not None else None, links={
        "results.csv": "results.csv", "results.parquet": "results.parquet", "summary.json": "summary.json"})
    plot_paths = plot_job.paths() if plot_job is not None else {}
    paths.plots.update(plot_paths)

    links = {"HTML report": "report.html", "summary.json": "summary.json", "results.csv": "results.csv",
             "results.parquet": "results.parquet"}
    markdown = render_markdown(analysis.summary, gate_report, links=links)
    if plot_paths:  # links, not inline images: a PR comment or step summary cannot reach these files
        markdown += "\nPlots: " + " · ".join(f"[{name}](plots/{p.name})" for name, p in plot_paths.items()) + "\n"
    write_text_atomic(paths.markdown, markdown)
    write_text_atomic(paths.html, page)
    log.info("report for %s written to %s in %.2f s", data.manifest.run_id, root, time.perf_counter() - started)
    return paths
