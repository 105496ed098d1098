"""Markdown: the sections and table columns a reader (terminal, PR comment, step summary) relies on."""

from __future__ import annotations

import re
from pathlib import Path

from harness.analysis.summary import build_summary
from harness.gate import Gate, evaluate_gates
from harness.report.markdown import render_markdown, table


def _headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("#")]


def _table_header_after(markdown: str, heading: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(heading)
    header = next(line for line in lines[start:] if line.startswith("| "))
    return [cell.strip() for cell in header.strip("|").split("|")]


def test_report_sections_in_reading_order(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    assert _headings(markdown) == [
        "# triage eval report — run `20250101T000000Z-triage-0000`",
        "## Leaderboard",
        "## Comparisons vs baseline `triage@v1`",
        "## Cost, tokens and latency per task",
        "## Errors",
        "## Tasks that flipped",
        "## Judge calibration",
        "## Notes",
    ]


def test_leaderboard_and_comparison_columns(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    assert _table_header_after(markdown, "## Leaderboard") == [
        "Variant", "Metric", "Mean", "95% CI", "Pass rate", "95% CI", "Tasks", "Task errors",
        "Grader errors", "Completed only: mean (tasks)"]
    assert _table_header_after(markdown, "## Comparisons vs baseline `triage@v1`") == [
        "Candidate", "Metric", "Baseline", "Base", "Cand.", "Δ", "95% CI", "p", "p (Holm)", "Test", "Verdict", "Tasks",
        "Tasks needed"]
    assert _table_header_after(markdown, "## Cost, tokens and latency per task")[:6] == [
        "Variant", "Attempts", "Cost mean (USD)", "p50", "p95", "Total (USD)"]


def test_comparisons_state_the_correction_and_the_verdicts(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    # one family per candidate, named; unadjusted and adjusted p side by side
    assert "triage@v2 vs triage@v1: 3 tests" in markdown and "Tarone" in markdown
    assert "| p (Holm) |" in markdown.replace("  ", "") or "p (Holm)" in markdown
    degraded = next(line for line in markdown.splitlines() if line.startswith("| triage@v2 ") and "accuracy" in line
                    and "mcnemar" in line)
    assert "▼ worse" in degraded
    unchanged = next(line for line in markdown.splitlines() if line.startswith("| triage@v3 ") and "accuracy" in line
                     and "mcnemar" in line)
    assert "= no detectable difference" in unchanged


def test_tables_line_up_for_a_terminal(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    lines = markdown.splitlines()
    start = lines.index("## Leaderboard")
    block = [line for line in lines[start:start + 20] if line.startswith("|")]
    assert len({len(line) for line in block}) == 1


def test_flipped_tasks_fold_into_details_for_github(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    assert re.search(r"<details><summary>\d+ flipped tasks</summary>", markdown)
    assert "pass→fail" in markdown


def test_epoch_runs_get_pass_at_k_and_stability(epochs_run: Path) -> None:
    markdown = render_markdown(build_summary(epochs_run))
    assert "## Repeated epochs" in markdown
    assert _table_header_after(markdown, "## Repeated epochs") == ["Variant", "k", "pass@k", "pass^k", "Tasks"]
    header = next(line for line in markdown.splitlines() if line.startswith("| Variant") and "Stable pass" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Variant", "Stable pass", "Stable fail", "Flaky", "Flaky tasks"]


def test_gate_results_lead_the_report_when_given(ab_run: Path) -> None:
    report = evaluate_gates(ab_run, [Gate.metric("accuracy", ">=", 0.8, variant="triage@v2"),
                                     Gate.metric("p95_latency_s", "<=", 8)])
    markdown = render_markdown(build_summary(ab_run), report)
    assert _headings(markdown)[1] == "## Gates — ❌ exit code 1: a gate failed"
    assert _table_header_after(markdown, "## Gates — ❌ exit code 1: a gate failed") == [
        "Result", "Gate", "Variant", "Value", "95% CI", "Threshold / baseline", "Tasks that drove it"]
    assert "❌ fail" in markdown and "✅ pass" in markdown
    assert "Failure details" in markdown and "threshold >= 0.8" in markdown


def test_links_to_the_other_report_files(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run), links={"HTML report": "report.html"})
    assert markdown.rstrip().endswith("[HTML report](report.html)")


def test_table_escapes_pipes_and_right_aligns_numbers() -> None:
    rendered = table(["name", "n"], [["a|b", "7"]], right=[1])
    assert rendered.splitlines() == ["| name |   n |", "| ---- | --: |", "| a\\|b |   7 |"]
