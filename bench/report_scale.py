"""Report cost per result row: flat from 4,000 to 40,000 rows, beside reading the run alone.

Writes synthetic run folders (two variants, 2 % task and grader errors) of 4,000 and 40,000
rows, then times ``write_report`` on each (Markdown, HTML, JSON, CSV, parquet and every plot)
after one warm-up report, as a CLI process would have its imports warm. For scale it prints
the cost of ``load_run`` alone on the same folder: the report's own work is the difference.
Goal: the per-row figure stays flat (ratio 40k/4k <= 1.2) and a 4,000-row report stays well
under two seconds of CPU. Last line: ``ms_per_1k_rows=<40k figure>``.

    python bench/report_scale.py [--sizes 4000 40000]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

from synthetic_runs import VariantSpec, make_run

from harness.core.results import load_run
from harness.report.writer import write_report

VARIANTS = [VariantSpec("triage@v1", 0.8),
            VariantSpec("triage@v2", 0.7, task_error_rate=0.02, grader_error_rate=0.02)]


def cpu_seconds(action) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    action()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 40000], help="rows per run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    write_report(make_run(root, VARIANTS, n_tasks=5, run_id="warm"))
    per_1k: dict[int, float] = {}
    for rows in args.sizes:
        run = make_run(root, VARIANTS, n_tasks=rows // len(VARIANTS), run_id=f"rows-{rows}")
        loading = cpu_seconds(functools.partial(load_run, run))
        reporting = cpu_seconds(functools.partial(write_report, run))
        per_1k[rows] = 1000 * reporting / rows
        print(f"{rows:>6} rows: report {reporting:.2f}s CPU ({per_1k[rows] * 1000:.0f} ms per 1k rows), "
              f"of which reading the run {loading:.2f}s")
    smallest, largest = min(per_1k), max(per_1k)
    print(f"per-row ratio {largest}/{smallest}: {per_1k[largest] / per_1k[smallest]:.2f} (goal <= 1.2)")
    print(f"ms_per_1k_rows={per_1k[largest] * 1000:.0f}")


if __name__ == "__main__":
    main()
