"""The report as Markdown: for a terminal, a GitHub PR comment and ``$GITHUB_STEP_SUMMARY``.

Tables are padded so they line up in a terminal and still render on GitHub; long lists sit in
``<details>`` blocks, which GitHub folds and a terminal shows as plain text. Every number is
rendered from :class:`~harness.analysis.summary.RunSummary`, so the Markdown, the HTML and
``summary.json`` always agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.analysis import stats
from harness.analysis.errors import ErrorDigest, entries_by_task
from harness.analysis.run_data import JudgeCalibration
from harness.analysis.stats import Interval, PairedComparison
from harness.analysis.summary import RunSummary
from harness.analysis.verdict import GateReport, GateResult

__all__ = ["render_markdown", "gates_markdown", "table"]

#: How many flipped / flaky tasks a Markdown report lists (all are in summary.json and the HTML).
LISTED = 50
VERDICT = {"better": "▲ better", "worse": "▼ worse", "no detectable difference": "= no detectable difference"}


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A GitHub table padded to line up in a terminal; ``right`` lists right-aligned columns."""
    cells = [[_escape(h) for h in headers], *[[_escape(str(c)) for c in row] for row in rows]]
    widths = [max(3, *(len(r[i]) for r in cells)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def sig(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3g}"


def ci(interval: Interval | None, digits: int = 3) -> str:
    if interval is None or math.isnan(interval.low) or math.isnan(interval.high):
        return "–"
    shown = f"[{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
    # A one-sided release test's interval is the two-sided one at 1 - 2 alpha (90%): say so in the
    # cell, since the column says 95%.
    return shown if math.isclose(interval.confidence, 0.95) else f"{shown} ({interval.confidence:.0%})"


def pval(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def status_banner(s: RunSummary) -> list[str]:
    """The top-of-report warning when the run (or the run compared with) is not complete."""
    lines = []
    for which, status in (("This run", s.run_status), ("The baseline run", s.vs_status)):
        if status is not None and not status.complete:
            lines.append(f"> ⚠️ **{which} is {status.word.upper()}**: {'; '.join(status.problems)}. "
                         "Its figures describe what ran, not the whole suite; `harness gate` exits 3 on it"
                         + (" unless `--allow-partial`." if status.word == "partial" else "."))
    return lines


def _header(s: RunSummary) -> list[str]:
    run = s.run
    tasks = max((v.tasks for v in s.variants), default=0)
    word = s.run_status.word if s.run_status is not None else run.status
    facts = [f"status **{word}**", f"{len(run.variants)} variant{'s' * (len(run.variants) != 1)}",
             f"{tasks} tasks", f"{run.epochs} epoch{'s' * (run.epochs != 1)}"]
    if run.git_commit:
        facts.append(f"commit `{run.git_commit[:10]}`")
    facts.append(f"created {run.created_at}")
    lines = [f"# {run.suite} eval report — run `{run.run_id}`", ""]
    if banner := status_banner(s):
        lines += [*banner, ""]
    lines.append("> " + " · ".join(facts))
    if s.vs is not None:
        lines.append(f"> Compared with run `{s.vs.run_id}` ({s.vs.status}, created {s.vs.created_at}).")
    elif s.baseline:
        lines.append(f"> Baseline variant: `{s.baseline}`.")
    elif s.comparisons:
        lines.append("> Comparisons: " + ", ".join(f"`{c}` vs `{b}`" for b, c in s.compared_pairs) + ".")
    return lines


def _gate_value(r: GateResult) -> tuple[str, str, str]:
    if r.kind == "no_regression" and r.comparison is not None:
        c = r.comparison
        return (f"{sig(r.value)} (Δ {c.diff:+.3g}, p {pval(c.p_value)})", ci(r.ci),
                f"baseline {sig(r.baseline_value)} (`{r.baseline}`), tolerance {r.tolerance:g}")
    threshold = "" if r.op is None else f"{r.op} {r.threshold:g}"
    return sig(r.value), ci(r.ci), threshold


def gates_markdown(report: GateReport) -> str:
    """The gate section: a verdict line, one row per gate and variant, and any problems."""
    icon = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}
    verdict = f"{'✅' if report.passed else '❌'} exit code {int(report.exit_code)}: {report.exit_code.meaning}"
    rows = []
    for r in report.results:
        value, interval, against = _gate_value(r)
        drivers = ", ".join(f"`{t}`" for t in r.drivers[:5])
        if r.drivers_total > 5:
            drivers += f" (+{r.drivers_total - 5} more)"
        rows.append([icon[r.status], r.gate, r.variant or "all", value, interval, against, drivers])
    if report.allowed_partial:
        verdict += " — on a PARTIAL run (--allow-partial)"
    lines = [f"## Gates — {verdict}", ""]
    if rows:
        lines.append(table(["Result", "Gate", "Variant", "Value", "95% CI", "Threshold / baseline", "Tasks that drove it"],
                           rows))
    for problem in report.problems:
        lines.append(f"- ⚠️ {problem}")
    failures = report.failures
    if failures:
        lines += ["", "<details><summary>Failure details</summary>", ""]
        lines += [f"- {r.message}" for r in failures]
        lines += ["", "</details>"]
    return "\n".join(lines)


def _leaderboard(s: RunSummary) -> list[str]:
    rows = []
    for r in s.leaderboard:
        name = f"{r.variant} (baseline)" if s.vs is None and r.variant == s.shipping_variant else r.variant
        completed = "–" if r.completed_mean is None else f"{num(r.completed_mean.estimate)} ({r.completed_tasks})"
        rows.append([name, r.metric, num(r.mean.estimate), ci(r.mean), num(r.pass_rate.estimate), ci(r.pass_rate),
                     str(r.n_tasks), str(r.task_errors), str(r.grader_errors), completed])
    return ["## Leaderboard", "",
            (f"_Per-task means (epochs averaged first), 95% intervals: Wilson for pass/fail, bootstrap otherwise. "
             f"{s.errors_counted}_"), "",
            table(["Variant", "Metric", "Mean", "95% CI", "Pass rate", "95% CI", "Tasks", "Task errors",
                   "Grader errors", "Completed only: mean (tasks)"], rows, right=[2, 4, 6, 7, 8, 9])]


def _comparisons(s: RunSummary) -> list[str]:
    if not s.comparisons:
        return []
    rows = []
    for c in s.comparisons:
        r = c.result
        rows.append([c.candidate, c.metric, c.baseline, num(r.baseline_mean), num(r.candidate_mean), f"{r.diff:+.3f}"
                     if not math.isnan(r.diff) else "–", ci(r.ci), pval(r.p_value), adjusted_p(r), r.test,
                     VERDICT[r.label], str(r.n), "–" if r.tasks_needed is None else str(r.tasks_needed)])
    title = f"## Comparisons vs baseline `{s.baseline}`" if s.baseline else "## Comparisons (each row names its baseline)"
    note = (f"_Δ = candidate − baseline over every task both were run on, errors counted as failures. 95% interval: "
            f"for pass/fail, the exact interval that agrees with McNemar's exact test (Clopper-Pearson for the "
            f"discordant split and the discordance), never a point; otherwise the paired t interval, or the paired "
            f"bootstrap from {stats.BOOTSTRAP_MIN_N} tasks on. Intervals are not adjusted for multiplicity. "
            f"p: McNemar's exact test when every per-task value is pass/fail, else the paired t-test on per-task "
            f"means; verdicts use the adjusted p. {s.correction}. A comparison a no-regression gate also makes is "
            f"adjusted with the gates, so this table and `harness gate` agree. Tasks needed: to detect a "
            f"difference of {s.effect:g} with 80% power, planned from a 95% upper bound of the discordance (or "
            f"spread) seen, and checked against the exact test's power._")
    return [title, "", note, "",
            table(["Candidate", "Metric", "Baseline", "Base", "Cand.", "Δ", "95% CI", "p", "p (Holm)", "Test",
                   "Verdict", "Tasks", "Tasks needed"], rows, right=[3, 4, 5, 7, 8, 11, 12])]


#: What a cost cell says when some of a variant's model calls have no known price (never $0).
PRICE_UNKNOWN = "price unknown"
_UNPRICED_NOTE = (f"*{PRICE_UNKNOWN}*: some model calls have no price (or their reply gave no usage), so the cost "
                  "is unknown, not $0. Set prices: README › Costs.")
def adjusted_p(result: PairedComparison) -> str:
    """The adjusted p the verdict rests on (one-sided for a gate's "worse?"), or why the test is not in its family."""
    if result.excluded is None:
        if result.alternative == "two-sided":
            return pval(result.p_adjusted)
        two_sided = result.p_for_label != result.p_adjusted
        return f"{pval(result.p_for_label)} ({'two-sided' if two_sided else 'one-sided'})"
    if result.p_adjusted is not None:
        return f"{pval(result.p_adjusted)} (as {result.excluded.split(' (')[0].removeprefix('same hypothesis as ')})"
    return "– (cannot reach significance)" if "Tarone" in result.excluded else f"– ({result.excluded})"


def _usage(s: RunSummary) -> list[str]:
    rows = []
    for v in s.variants:
        costs = ([f"{v.cost_usd.mean:.5f}", f"{v.cost_usd.p50:.5f}", f"{v.cost_usd.p95:.5f}", f"{v.cost_usd.total:.4f}"]
                 if not v.unpriced_calls else [PRICE_UNKNOWN] * 4)
        rows.append([v.variant, str(v.attempts), *costs, f"{v.tokens.mean:.0f}", f"{v.tokens.p50:.0f}",
                     f"{v.tokens.p95:.0f}", f"{v.latency_s.mean:.2f}", f"{v.latency_s.p50:.2f}",
                     f"{v.latency_s.p95:.2f}"]
                    if v.attempts else [v.variant, "0", *["–"] * 10])
    return ["## Cost, tokens and latency per task", "",
            table(["Variant", "Attempts", "Cost mean (USD)", "p50", "p95", "Total (USD)", "Tokens mean", "p50", "p95",
                   "Latency mean (s)", "p50", "p95"], rows, right=list(range(1, 12))),
            *(["", _UNPRICED_NOTE] if any(v.unpriced_calls for v in s.variants) else [])]


def _errors(s: RunSummary) -> list[str]:
    if not any(v.task_errors or v.grader_errors for v in s.variants):
        return []
    rows = [[v.variant, str(v.task_errors), f"{v.error_rate:.1%}",
             ", ".join(f"{k}: {n}" for k, n in sorted(v.errors_by_kind.items())) or "–", str(v.grader_errors)]
            for v in s.variants]
    return ["## Errors", "", table(["Variant", "Task errors", "Error rate", "By kind", "Grader errors"], rows,
                                   right=[1, 2, 4]), *_error_list(s.errors)]


def _error_list(digest: ErrorDigest) -> list[str]:
    """Each errored task with its messages, and how to run just those tasks again."""
    if not digest.entries:
        return []
    rows = [[variant, f"`{task}`", "; ".join(f"#{e.epoch} {e.describe()}" for e in entries)]
            for (variant, task), entries in entries_by_task(digest.entries).items()]
    shown = len(digest.entries)
    head = (f"First {shown} of {digest.total} errors, by task:" if shown < digest.total
            else "Errors by task:")
    lines = ["", head, "", table(["Variant", "Task", "Errors (epoch, kind, message)"], rows)]
    if digest.rerun:
        lines += ["", f"Run just the tasks that errored: `{digest.rerun}`"]
    if digest.resume:
        lines += ["", f"Or retry every errored row in this run folder: `{digest.resume}`"]
    return lines


def _flips(s: RunSummary) -> list[str]:
    if not s.comparisons and not s.flips_total:
        return []
    if not s.flips_total:
        return ["## Tasks that flipped", "", "No task flipped between pass and fail on any metric."]
    counts: dict[tuple[str, str], int] = {}
    for f in s.flips:
        counts[(f.metric, f.direction)] = counts.get((f.metric, f.direction), 0) + 1
    per_metric = [[metric, str(total), str(counts.get((metric, "pass→fail"), 0)),
                   str(counts.get((metric, "fail→pass"), 0))] for metric, total in s.flips_by_metric.items()]
    shown = s.flips[:LISTED]
    rows = [[f"`{f.task_id}`", f.metric, f.baseline, f.candidate, f.direction] for f in shown]
    more = s.flips_total - len(shown)
    lines = ["## Tasks that flipped", "",
             (f"{s.flips_total} task flips between pass and fail, per metric (pass at the run's pass threshold; "
             "errors count as failures; the per-direction counts cover the listed flips):"), "",
             table(["Metric", "Flips", "pass→fail", "fail→pass"], per_metric, right=[1, 2, 3]), "",
             f"<details><summary>{len(shown)} flipped tasks</summary>", "",
             table(["Task", "Metric", "Baseline", "Candidate", "Direction"], rows)]
    if more > 0:
        lines += ["", f"…and {more} more (see report.html or summary.json)."]
    return [*lines, "", "</details>"]


def _repeats(s: RunSummary) -> list[str]:
    if not s.pass_at_k and not s.stability:
        return []
    lines = ["## Repeated epochs", "",
             ("_pass@k: chance at least one of k attempts passes (Chen et al. 2021, unbiased); pass^k: chance all "
              "k pass. Averaged over tasks. An epoch that errored (task or grader) is a failed attempt, so a task "
              "that passed once and errored after is flaky, not a stable pass._"), ""]
    lines.append(table(["Variant", "k", "pass@k", "pass^k", "Tasks"],
                       [[p.variant, str(p.k), num(p.pass_at_k), num(p.pass_hat_k), str(p.n_tasks)] for p in s.pass_at_k],
                       right=[1, 2, 3, 4]))
    rows = [[r.variant, str(r.stable_pass), str(r.stable_fail), str(r.flaky),
             ", ".join(f"`{t}`" for t in r.flaky_tasks[:10]) + (" …" if r.flaky > 10 else "")] for r in s.stability]
    lines += ["", table(["Variant", "Stable pass", "Stable fail", "Flaky", "Flaky tasks"], rows, right=[1, 2, 3])]
    return lines


CONVERSATION_HEADERS = ["Variant", "Chats", "Mean turns", "Customer done", "Out of turns", "Customer silent", "Errors"]


def conversation_rows(s: RunSummary) -> list[list[str]]:
    """How each variant's chats ended, as table cells (the Markdown and HTML reports share them)."""
    endings = ("stop", "max_turns", "customer_silent", "error")
    return [[c.variant, str(c.conversations), num(c.mean_turns, 1), *(str(c.ended.get(e, 0)) for e in endings)]
            for c in s.conversations]


def _conversations(s: RunSummary) -> list[str]:
    if not s.conversations:
        return []
    return ["## Conversations", "",
            ("_How the chats ended: the customer was done (stop), ran out of turns, fell silent, or the task "
             "errored._"), "", table(CONVERSATION_HEADERS, conversation_rows(s), right=[1, 2, 3, 4, 5, 6])]


def _calibration(s: RunSummary) -> list[str]:
    if not s.judge_calibration:
        return []
    rows = [[c.grader or "judge", sig(c.n), num(c.agreement), kappa_text(c), num(c.self_consistency),
             "; ".join(f"{lab}: {row}" for lab, row in zip(c.labels, c.confusion or [], strict=False)) or "–"]
            for c in s.judge_calibration]
    return ["## Judge calibration", "",
            ("_Agreement with human labels; confusion rows are human labels, columns the judge's. Cohen's κ with "
             "its 95% interval (Fleiss, Cohen & Everitt 1969); a `judge_kappa` gate holds the interval's lower "
             "bound._"), "",
            table(["Grader", "n", "Agreement", "Cohen's κ [95% CI]", "Self-consistency", "Confusion"], rows,
                  right=[1, 2, 3, 4])]


def kappa_text(c: JudgeCalibration) -> str:
    """``0.838 [0.730, 0.945]``, or why kappa is undefined."""
    if c.kappa is None or math.isnan(c.kappa):
        return f"undefined ({c.kappa_note})" if c.kappa_note else "–"
    if c.kappa_low is None or c.kappa_high is None:
        return num(c.kappa)
    return f"{num(c.kappa)} [{num(c.kappa_low)}, {num(c.kappa_high)}]"


def _notes(s: RunSummary) -> list[str]:
    if not s.notes:
        return []
    return ["## Notes", "", *(f"- {n}" for n in s.notes)]


def render_markdown(summary: RunSummary, gates: GateReport | None = None,
                    links: Mapping[str, str] | None = None) -> str:
    """The whole report. ``links``: label -> relative path of the other report files."""
    sections: list[list[str]] = [_header(summary)]
    if gates is not None:
        sections.append([gates_markdown(gates)])
    sections += [_leaderboard(summary), _comparisons(summary), _usage(summary), _errors(summary), _flips(summary),
                 _repeats(summary), _conversations(summary), _calibration(summary), _notes(summary)]
    if links:
        sections.append(["---", "", " · ".join(f"[{label}]({path})" for label, path in links.items())])
    return "\n\n".join("\n".join(part) for part in sections if part) + "\n"
