"""An index over many runs: the latest run of each suite, its leaderboard, and where its report is.

The demo replays several suites; a person wants one page that says, per suite, which variant
leads on which metric and where to drill down. Built from each run's ``report/summary.json``
(written by :func:`harness.report.writer.write_report`), so it costs no recomputation.

    python -m harness.report.index reports/runs reports/index.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["latest_runs", "render_index", "write_index"]


def latest_runs(runs_dir: Path) -> dict[str, Path]:
    """The newest run folder of each suite that has a report (run ids sort by time)."""
    latest: dict[str, Path] = {}
    for folder in sorted(runs_dir.glob("*")):
        summary = folder / "report" / "summary.json"
        if summary.is_file():
            suite = json.loads(summary.read_text(encoding="utf-8"))["run"]["suite"]
            latest[suite] = folder
    return latest


def _fmt(interval: dict[str, Any]) -> str:
    value, low, high = interval.get("estimate"), interval.get("low"), interval.get("high")
    if value is None:
        return "—"
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _suite_section(folder: Path) -> list[str]:
    summary = json.loads((folder / "report" / "summary.json").read_text(encoding="utf-8"))
    run, metrics = summary["run"], summary["metrics"]
    lines = [f"## {run['suite']}", "",
             (f"Run `{run['run_id']}` ({run['status']}) · baseline `{summary.get('baseline')}` · "
              f"[report.html]({folder.name}/report/report.html) · [report.md]({folder.name}/report/report.md)"), "",
             "| variant | " + " | ".join(metrics) + " | task errors |",
             "|---|" + "---|" * len(metrics) + "---|"]
    rows = {(r["variant"], r["metric"]): r for r in summary["leaderboard"]}
    for stats in summary["variants"]:
        cells = [_fmt(rows[(stats["variant"], m)]["mean"]) if (stats["variant"], m) in rows else "—" for m in metrics]
        lines.append(f"| {stats['variant']} | " + " | ".join(cells) + f" | {stats['task_errors']} |")
    verdicts = [c for c in summary["comparisons"] if c["result"]["label"] != "no detectable difference"]
    lines.append("")
    if verdicts:
        lines.extend(f"- **{c['candidate']}** is *{c['result']['label']}* than {c['baseline']} on {c['metric']}"
                     for c in verdicts)
    else:
        against = f"`{summary['baseline']}`" if summary.get("baseline") else "its baseline"
        lines.append(f"- No variant differs detectably from {against} ({summary['correction']}).")
    return [*lines, ""]


def render_index(runs_dir: Path) -> str:
    latest = latest_runs(runs_dir)
    lines = ["# Eval runs", "", ("Latest run of each suite. Intervals are 95%; differences are paired tests "
                                 "against each suite's baseline variant (or the pairs it declares)."), ""]
    for suite in sorted(latest):
        lines.extend(_suite_section(latest[suite]))
    if not latest:
        lines.append("No reported runs yet: `harness run evals/test_<suite>.py`.")
    return "\n".join(lines) + "\n"


def write_index(runs_dir: Path, out: Path) -> Path:
    text = render_index(runs_dir)
    # Links are relative to the runs folder; rewrite them when the index lives elsewhere.
    prefix = Path("runs") if out.parent.resolve() == runs_dir.resolve().parent else runs_dir.resolve()
    if out.parent.resolve() != runs_dir.resolve():
        text = text.replace("](", f"]({prefix.as_posix()}/")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


if __name__ == "__main__":
    runs, target = (Path(a) for a in (sys.argv[1:3] if len(sys.argv) >= 3 else ("reports/runs", "reports/index.md")))
    print(write_index(runs, target))  # a script's one line of output
