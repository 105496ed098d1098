"""Print the demo's headline findings from the latest report of each suite.

Reads ``reports/runs/*/report/summary.json`` (the newest run of each suite) and says, in a few
lines, what a user of the harness wants to know first: which change helped (the paired test
says *better*), which regressed (*worse*), what a fix did on the failures production saw,
which gate failed and why, and how far the LLM judge agrees with the human labels. It renders the analysis layer's comparison rows as they are
(label, p the label rests on, family): nothing is computed here that the reports do not state.

    python scripts/headline.py [reports/runs]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

PRIMARY = {"pass_rate", "success_rate"}


def latest_summaries(runs: Path) -> dict[str, dict[str, Any]]:
    """The newest ``summary.json`` of each suite (run ids sort by start time)."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(runs.glob("*/report/summary.json")):
        summary = json.loads(path.read_text())
        newest[summary["run"]["suite"]] = summary
    return newest


def _num(value: Any) -> float:
    """A number from summary.json, where NaN is written as null."""
    return float("nan") if value is None else float(value)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:+.0f} pts"


def comparisons(summary: dict[str, Any], label: str, unconfirmed: int = 0) -> list[str]:
    """Comparisons with ``label``; ``unconfirmed=+1`` (``-1``): gains (losses) significant alone
    but not after Holm's correction in their family."""
    lines = []
    for comparison in summary.get("comparisons", []):
        result = comparison["result"]
        two_sided = result.get("alternative", "two-sided") == "two-sided"
        if unconfirmed:
            if not (result.get("label") == label and _unconfirmed_direction(result) == unconfirmed):
                continue
        elif result.get("label") != label:
            continue
        if _repeats_a_grader(comparison, summary["comparisons"]):
            continue
        ci = result.get("ci") or {}
        decided = result.get("p_for_label", result.get("p_adjusted"))
        # A gain on a gated metric is decided by the two-sided test (p_for_label); the one-sided
        # "worse?" p beside it would read as evidence against the gain.
        improved_one_sided = not two_sided and decided is not None and decided != result.get("p_adjusted")
        confidence = ci.get("confidence") or 0.95
        lines.append(
            f"{comparison['candidate']} vs {comparison['baseline']} on {comparison['metric']}: "
            f"{result['baseline_mean']:.2f} -> {result['candidate_mean']:.2f} ({_pct(result['diff'])}, "
            f"{confidence:.0%} CI {_pct(_num(ci.get('low')))} to {_pct(_num(ci.get('high')))}, "
            + (f"{result['test']} two-sided, p={_num(decided):.3g} after Holm" if improved_one_sided else
               f"{result['test']}{'' if two_sided else ' (one-sided: worse?)'} p={_num(result.get('p_value')):.3g}, "
               f"{_num(decided):.3g} after Holm")
            + f" in {result.get('family') or 'its family'}, n={result['n']} tasks)"
        )
    return lines


def _unconfirmed_direction(result: dict[str, Any]) -> int:
    """+1 (-1) when the unadjusted p alone says better (worse) but the label, after Holm, does not.

    A loss counts from either test (a one-sided "worse?" p below alpha alone is one); a gain only
    from a two-sided test, since a "worse?" test's small p is never evidence of a gain.
    """
    diff, p, alpha = result.get("diff") or 0, _num(result.get("p_value")), result.get("alpha") or 0.05
    two_sided = result.get("alternative", "two-sided") == "two-sided"
    if math.isnan(p) or p >= alpha or diff == 0:
        return 0
    if diff > 0:
        return 1 if two_sided else 0
    return -1


def _repeats_a_grader(comparison: dict[str, Any], every: list[dict[str, Any]]) -> bool:
    """``pass_rate`` when one grader decides it alone: the same numbers as that grader's line."""
    if comparison["metric"] != "pass_rate":
        return False
    result = comparison["result"]
    same = ("baseline_mean", "candidate_mean", "p_value", "n")
    return any(other is not comparison and other["metric"] != "pass_rate"
               and (other["candidate"], other["baseline"]) == (comparison["candidate"], comparison["baseline"])
               and all(other["result"].get(k) == result.get(k) for k in same) for other in every)


def _moved(result: dict[str, Any]) -> str:
    """How a comparison's tasks moved, as the analysis layer counted them."""
    wins, losses = result.get("candidate_only"), result.get("baseline_only")
    counted = "" if wins is None else f"wins {wins} / losses {losses}, "
    return f"{counted}{result['test']} p={_num(result.get('p_value')):.3g}"


def production_fix(summary: dict[str, Any]) -> list[str]:
    """A fix measured on the failures production saw: the comparisons against a ``<flow>@captured``
    variant (the production traces, replayed), whatever their label — "no detectable difference"
    is an answer too. pass_rate first; then each metric on which some task moved; the metrics on
    which no task changed, named together."""
    lines: list[str] = []
    unchanged: dict[tuple[str, str], list[str]] = {}
    rows = [c for c in summary.get("comparisons", []) if str(c.get("baseline", "")).endswith("@captured")]
    for comparison in sorted(rows, key=lambda c: c["metric"] != "pass_rate"):
        result, pair = comparison["result"], (comparison["candidate"], comparison["baseline"])
        still = result.get("test", "").startswith("mcnemar") and not (result.get("candidate_only")
                                                                      or result.get("baseline_only"))
        if still and comparison["metric"] != "pass_rate":
            unchanged.setdefault(pair, []).append(comparison["metric"])
            continue
        lines.append(f"{pair[0]} vs {pair[1]} on {comparison['metric']}: {result['baseline_mean']:.2f} -> "
                     f"{result['candidate_mean']:.2f}, {result['label']} ({_moved(result)}, n={result['n']} tasks)")
    lines += [f"{a} vs {b}: no task changed on {', '.join(metrics)}" for (a, b), metrics in unchanged.items()]
    return lines


def failed_gates(summary: dict[str, Any]) -> list[str]:
    gates = summary.get("gates") or {}
    return [result["message"] for result in gates.get("results", []) if result.get("status") != "pass"]


def judges(summary: dict[str, Any]) -> list[str]:
    lines = []
    for calibration in summary.get("judge_calibration") or []:
        kappa = calibration.get("kappa")
        shown = "n/a" if kappa is None else f"{kappa:.2f}"
        low, high = calibration.get("kappa_low"), calibration.get("kappa_high")
        interval = "" if low is None or high is None else f" (95% CI {low:.2f} to {high:.2f})"
        lines.append(f"judge '{calibration.get('grader')}' vs {calibration.get('n')} human labels: "
                     f"agreement {calibration.get('agreement') or float('nan'):.2f}, Cohen's kappa {shown}{interval}")
    return lines


def headline(runs: Path) -> list[str]:
    summaries = latest_summaries(runs)
    if not summaries:
        return [f"no reports under {runs}: run scripts/demo.sh first"]
    out = ["", "HEADLINE FINDINGS (from each suite's latest report)", ""]
    sections = [
        ("Helped (paired test: better)", lambda s: comparisons(s, "better")),
        ("Gains not confirmed after Holm's correction (p < 0.05 alone)",
         lambda s: comparisons(s, "no detectable difference", unconfirmed=1)),
        ("Regressed (paired test: worse)", lambda s: comparisons(s, "worse")),
        # A loss the family correction cannot confirm is still one to look at before shipping.
        ("Losses not confirmed after Holm's correction (p < 0.05 alone)",
         lambda s: comparisons(s, "no detectable difference", unconfirmed=-1)),
        ("The fix, measured on the failures production saw (traces replayed as <flow>@captured)", production_fix),
        ("Gates that failed", failed_gates),
        ("Judges", judges),
    ]
    for title, find in sections:
        found = [f"  [{suite}] {line}" for suite, summary in sorted(summaries.items()) for line in find(summary)]
        out += [f"{title}:", *(found or ["  none"]), ""]
    return out


def main(argv: list[str]) -> int:
    runs = Path(argv[1]) if len(argv) > 1 else Path("reports/runs")
    sys.stdout.write("\n".join(headline(runs)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
