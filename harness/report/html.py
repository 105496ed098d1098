"""The report as ONE self-contained HTML file: opens from file://, needs no network.

Plots are embedded as base64 ``data:`` URIs, CSS and JS are inline, and the rows travel as a JSON
island (``<script type="application/json">``) that a small script renders into a filterable,
sortable table. Clicking a row opens its drill-down: input, output, every grader's score and
reason, and the trajectory (agents, handoffs, tool calls with arguments, model calls with tokens).

Big runs stay usable: the summary tables are computed over every row, but the explorer embeds
at most ``failure_cap`` failures/errors plus a seeded sample of ``sample_size`` other rows, the
page says exactly what was sampled, and links to ``results.csv``/``results.parquet`` for the rest.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from pydantic import BaseModel

from harness.analysis.errors import ErrorDigest, entries_by_task
from harness.analysis.run_data import row_status
from harness.analysis.summary import Analysis, RunSummary
from harness.analysis.verdict import GateReport
from harness.core.results import ResultRow
from harness.report.markdown import (
    CONVERSATION_HEADERS,
    PRICE_UNKNOWN,
    VERDICT,
    adjusted_p,
    ci,
    conversation_rows,
    kappa_text,
    num,
    pval,
    sig,
    status_banner,
)
from harness.report.transcript import SCRIPT as TRANSCRIPT_SCRIPT
from harness.report.transcript import STYLE as TRANSCRIPT_STYLE
from harness.report.transcript import row_transcript, transcript_pair

__all__ = ["render_html", "select_rows", "select_indices", "select_failed", "Sampling"]

log = logging.getLogger(__name__)

#: Runs up to this many rows embed every row; bigger ones embed failures plus a sample.
MAX_ROWS = 5000
FAILURE_CAP = 2000
SAMPLE_SIZE = 2000
#: Long inputs/outputs/attributes are cut to this many characters in the page.
MAX_TEXT = 4000
MAX_SPANS = 300


class Sampling(BaseModel):
    """What the explorer holds out of the whole run, said on the page."""

    total: int
    embedded: int
    failures_total: int
    failures_embedded: int
    others_total: int
    others_embedded: int
    sampled: bool


def select_indices(statuses: Sequence[str], max_rows: int = MAX_ROWS, failure_cap: int = FAILURE_CAP,
                   sample_size: int = SAMPLE_SIZE, seed: int = 0) -> tuple[list[int], Sampling]:
    """Which attempts the explorer embeds, from their statuses alone (in run order): every one when
    there are at most ``max_rows``; else failures first (up to a cap) and a seeded sample of the rest."""
    return select_failed(np.array([status != "pass" for status in statuses], dtype=bool), max_rows, failure_cap,
                         sample_size, seed)


def select_failed(failed: np.ndarray, max_rows: int = MAX_ROWS, failure_cap: int = FAILURE_CAP,
                  sample_size: int = SAMPLE_SIZE, seed: int = 0) -> tuple[list[int], Sampling]:
    """:func:`select_indices` from one flag per attempt (not passed), as arrays: a list of 1M statuses
    and of their positions held 100 MB at the end of a 1M-row report, its peak RSS (bench/analysis_scale.py)."""
    failures, others = np.flatnonzero(failed), np.flatnonzero(~failed)
    total = len(failed)
    if total <= max_rows:
        return list(range(total)), Sampling(
            total=total, embedded=total, failures_total=len(failures), failures_embedded=len(failures),
            others_total=len(others), others_embedded=len(others), sampled=False)
    kept_failures = failures[:failure_cap]
    # random.sample picks positions in its population and looks them up: these are the ones it picks
    # from the list of ``others``
    picked = random.Random(seed).sample(range(len(others)), min(sample_size, len(others)))
    kept_others = others[np.asarray(picked, dtype=np.int64)]
    selected: list[int] = np.union1d(kept_failures, kept_others).tolist()
    return selected, Sampling(total=total, embedded=len(selected), failures_total=len(failures),
                              failures_embedded=len(kept_failures), others_total=len(others),
                              others_embedded=len(kept_others), sampled=True)


def select_rows(rows: Sequence[ResultRow], max_rows: int = MAX_ROWS, failure_cap: int = FAILURE_CAP,
                sample_size: int = SAMPLE_SIZE, seed: int = 0) -> tuple[list[ResultRow], Sampling]:
    """Every row when there are at most ``max_rows``; else failures first (up to a cap) and a sample."""
    indices, sampling = select_indices([row_status(r) for r in rows], max_rows, failure_cap, sample_size, seed)
    return [rows[i] for i in indices], sampling


def _payload_rows(rows: Sequence[ResultRow], baseline: str | None) -> list[dict[str, Any]]:
    """Each embedded row as its transcript, and beside the baseline's row of the same task its diff.

    The transcript is what ``harness view`` shows (one builder, one script draws both). A row of
    another variant carries ``pair``: the index of the baseline's row for the same task and epoch,
    and the output diff and aligned trajectories :func:`~harness.report.transcript.transcript_pair` makes.
    """
    out = [row_transcript(row, max_text=MAX_TEXT, max_spans=MAX_SPANS) | {"i": i} for i, row in enumerate(rows)]
    where = {(row.task_id, row.epoch, row.variant): i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        j = where.get((row.task_id, row.epoch, baseline or ""))
        if j is None or j == i:
            continue
        pair = transcript_pair(out[j], out[i])
        out[i]["pair"] = {"base": j, "diff": pair["diff"], "graders": pair["graders"], "steps": pair["steps"]}
    return out


def _plain(value: Any) -> Any:
    """What msgspec does not encode itself: a numpy scalar as its Python number, anything else as its
    text (as ``json.dumps(default=str)`` wrote it)."""
    return value.item() if isinstance(value, np.generic) else str(value)


#: The payload's encoder. msgspec wrote a 4,000-row run's payload (4.6 MB) in 15 ms where
#: ``json.dumps`` took 73 (CPU, bench/replay_e2e.py's suite; issue 25's report share) with the same
#: text for JSON's own types; NaN and infinities come out as null, which ``JSON.parse`` accepts.
_PAYLOAD = msgspec.json.Encoder(enc_hook=_plain)


def _json_island(data: Any) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early."""
    text = _PAYLOAD.encode(data).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i in numeric else ""}">{_e(c)}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _gates_html(report: GateReport) -> str:
    rows = []
    for r in report.results:
        against = (f"baseline {sig(r.baseline_value)} ({r.baseline}), tolerance {r.tolerance or 0:g}"
                   if r.kind == "no_regression" else f"{r.op} {r.threshold:g}" if r.op else "")
        drivers = ", ".join(r.drivers[:10]) + (f" (+{r.drivers_total - 10} more)" if r.drivers_total > 10 else "")
        rows.append([r.status.upper(), r.gate, r.variant or "all", sig(r.value), ci(r.ci), against, drivers])
    verdict = f"exit code {int(report.exit_code)}: {report.exit_code.meaning}"
    if report.allowed_partial:
        verdict += " — on a PARTIAL run (--allow-partial)"
    problems = "".join(f"<li>{_e(p)}</li>" for p in report.problems)
    return (f'<section id="gates"><h2>Gates — {_e(verdict)}</h2>'
            + _table(["Result", "Gate", "Variant", "Value", "95% CI", "Threshold / baseline", "Tasks that drove it"],
                     rows)
            + (f"<ul>{problems}</ul>" if problems else "") + "</section>")


def _summary_html(s: RunSummary) -> str:
    parts = []
    board = [[r.variant, r.metric, num(r.mean.estimate), ci(r.mean), num(r.pass_rate.estimate), ci(r.pass_rate),
              str(r.n_tasks), str(r.task_errors), str(r.grader_errors),
              "–" if r.completed_mean is None else f"{num(r.completed_mean.estimate)} ({r.completed_tasks})"]
             for r in s.leaderboard]
    parts.append('<section id="leaderboard"><h2>Leaderboard</h2><p class="note">Per-task means (epochs averaged '
                 f'first), 95% intervals. {_e(s.errors_counted)}</p>'
                 + _table(["Variant", "Metric", "Mean", "95% CI", "Pass rate", "95% CI", "Tasks", "Task errors",
                           "Grader errors", "Completed only: mean (tasks)"], board, numeric=[2, 4, 6, 7, 8, 9])
                 + "</section>")
    if s.comparisons:
        comp = [[c.candidate, c.metric, c.baseline, num(c.result.baseline_mean), num(c.result.candidate_mean),
                 "–" if math.isnan(c.result.diff) else f"{c.result.diff:+.3f}", ci(c.result.ci), pval(c.result.p_value),
                 adjusted_p(c.result), c.result.test, VERDICT[c.result.label], str(c.result.n)]
                for c in s.comparisons]
        title = f"Comparisons vs baseline {_e(s.baseline)}" if s.baseline else "Comparisons (each row names its baseline)"
        parts.append(f'<section id="comparisons"><h2>{title}</h2>'
                     f'<p class="note">Paired over every task both were run on, errors counted as failures; intervals '
                     f'agree with the test (exact for pass/fail, t or bootstrap otherwise) and are not adjusted. '
                     f'{_e(s.correction)}.</p>'
                     + _table(["Candidate", "Metric", "Baseline", "Base", "Cand.", "Δ", "95% CI", "p", "p (Holm)",
                               "Test", "Verdict", "Tasks"], comp, numeric=[3, 4, 5, 7, 8, 11]) + "</section>")
    usage = [[v.variant, str(v.attempts), *([f"{v.cost_usd.mean:.5f}", f"{v.cost_usd.p95:.5f}"] if not v.unpriced_calls
                                            else [PRICE_UNKNOWN] * 2), f"{v.tokens.mean:.0f}",
              f"{v.tokens.p95:.0f}", f"{v.latency_s.mean:.2f}", f"{v.latency_s.p50:.2f}", f"{v.latency_s.p95:.2f}",
              str(v.task_errors), str(v.grader_errors)] for v in s.variants if v.attempts]
    parts.append('<section id="usage"><h2>Cost, tokens and latency per task</h2>'
                 + _table(["Variant", "Attempts", "Cost mean (USD)", "Cost p95", "Tokens mean", "Tokens p95",
                           "Latency mean (s)", "p50", "p95", "Task errors", "Grader errors"], usage,
                          numeric=list(range(1, 11))) + "</section>")
    if s.errors.entries:
        parts.append(_errors_html(s.errors))
    if s.flips_total:
        flips = [[f.task_id, f.metric, f.baseline, f.candidate, f.direction] for f in s.flips]
        per_metric = ", ".join(f"{m}: {n}" for m, n in s.flips_by_metric.items())
        parts.append(f'<section id="flips"><details><summary>{s.flips_total} task flips between pass and fail '
                     f'({_e(per_metric)})</summary>' + _table(["Task", "Metric", "Baseline", "Candidate", "Direction"],
                                                             flips) + "</details></section>")
    if s.pass_at_k:
        rows = [[p.variant, str(p.k), num(p.pass_at_k), num(p.pass_hat_k), str(p.n_tasks)] for p in s.pass_at_k]
        stab = [[r.variant, str(r.stable_pass), str(r.stable_fail), str(r.flaky)] for r in s.stability]
        parts.append('<section id="epochs"><h2>Repeated epochs</h2>'
                     + _table(["Variant", "k", "pass@k", "pass^k", "Tasks"], rows, numeric=[1, 2, 3, 4])
                     + _table(["Variant", "Stable pass", "Stable fail", "Flaky"], stab, numeric=[1, 2, 3]) + "</section>")
    if s.conversations:
        parts.append('<section id="conversations"><h2>Conversations</h2>'
                     + _table(CONVERSATION_HEADERS, conversation_rows(s), numeric=[1, 2, 3, 4, 5, 6]) + "</section>")
    if s.judge_calibration:
        rows = [[c.grader or "judge", sig(c.n), num(c.agreement), kappa_text(c)] for c in s.judge_calibration]
        parts.append('<section id="calibration"><h2>Judge calibration</h2>'
                     + _table(["Grader", "n", "Agreement", "Cohen's κ [95% CI]"], rows, numeric=[1, 2]) + "</section>")
    if s.notes:
        parts.append("<section id=\"notes\"><h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in s.notes)
                     + "</ul></section>")
    return "".join(parts)


def _errors_html(digest: ErrorDigest) -> str:
    """Each errored task with its messages (the explorer below has the full rows)."""
    rows = [[variant, task, "\n".join(f"#{e.epoch} {e.describe()}" for e in entries)]
            for (variant, task), entries in entries_by_task(digest.entries).items()]
    shown = len(digest.entries)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in digest.by_kind.items())
    note = (f"{digest.task_errors} task errors ({kinds or 'none'}), {digest.grader_errors} grader errors"
            + (f"; the first {shown} are listed" if shown < digest.total else "") + ".")
    commands = "".join(f"<p class=\"note\">{_e(label)}: <code>{_e(command)}</code></p>"
                       for label, command in (("Run just the tasks that errored", digest.rerun),
                                              ("Retry every errored row in this run folder", digest.resume))
                       if command)
    return (f'<section id="errors"><h2>Errors</h2><p class="note">{_e(note)}</p>'
            + _table(["Variant", "Task", "Errors (epoch, kind, message)"], rows) + commands + "</section>")


def _plots_html(plots: Mapping[str, Path]) -> str:
    if not plots:
        return ""
    figures = []
    for name, path in plots.items():
        encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        title = name.replace("_", " ")
        figures.append(f'<figure><img alt="{_e(title)}" src="data:image/png;base64,{encoded}">'
                       f"<figcaption>{_e(title)}</figcaption></figure>")
    return f'<section id="plots"><h2>Plots</h2><div class="plots">{"".join(figures)}</div></section>'


def _sampling_html(sampling: Sampling, links: Mapping[str, str]) -> str:
    files = " · ".join(f'<a href="{_e(path)}">{_e(label)}</a>' for label, path in links.items())
    if sampling.sampled:
        text = (f"This run has {sampling.total:,} attempts; the explorer embeds {sampling.embedded:,}: "
                f"{sampling.failures_embedded:,} of {sampling.failures_total:,} failed or errored attempts "
                f"and a random sample (seeded) of {sampling.others_embedded:,} of {sampling.others_total:,} passing "
                f"attempts. Summary tables and plots use every attempt. All rows: {files}.")
    else:
        text = f"All {sampling.total:,} attempts are embedded. Data: {files}."
    return f'<p id="sampling" class="note" data-sampled="{str(sampling.sampled).lower()}">{text}</p>'


def render_html(analysis: Analysis, gates: GateReport | None = None,
                plots: Mapping[str, Path] | Callable[[], Mapping[str, Path]] | None = None, *,
                links: Mapping[str, str] | None = None, max_rows: int = MAX_ROWS, failure_cap: int = FAILURE_CAP,
                sample_size: int = SAMPLE_SIZE, seed: int = 0) -> str:
    """The whole report as one HTML document (a string).

    ``plots``: name -> PNG, or a function that gives them, called once the rows are rendered: the
    report passes its plot process's (:mod:`harness.report.plot_process`), so the plots are drawn
    while the rows are read and rendered, not before (bench/replay_e2e.py's 4,000-row report waited
    0.22 s for its plots, then took 0.21 s for the rows).
    """
    summary = analysis.summary
    links = dict(links or {"results.csv": "results.csv", "results.parquet": "results.parquet",
                           "summary.json": "summary.json"})
    # statuses from the columns; only the embedded rows are read whole (a 1M-row run embeds 4,000)
    failed = (analysis.data.attempts["status"] != "pass").to_numpy(dtype=bool)
    indices, sampling = select_failed(failed, max_rows, failure_cap, sample_size, seed)
    rows = analysis.data.rows_at(indices)
    payload = {
        "scoreNames": analysis.data.score_names,
        "variants": analysis.data.variants,
        "tags": sorted({t for r in rows for t in r.tags}),
        "baseline": analysis.data.baseline_variant,
        "rows": _payload_rows(rows, analysis.data.baseline_variant),
    }
    island = _json_island(payload)
    drawn = plots() if callable(plots) else plots
    run = summary.run
    title = f"{run.suite} eval report — {run.run_id}"
    word = summary.run_status.word if summary.run_status is not None else run.status
    banner = "".join(f'<p class="banner">{_e(line.removeprefix("> ").replace("**", "").replace("`", ""))}</p>'
                     for line in status_banner(summary))
    manifest = analysis.data.manifest
    header = (f"<header><h1>{_e(title)}</h1>{banner}"
              + (f'<p class="label"><b>{_e(manifest.label)}</b></p>' if manifest.label else "")
              + (f'<p class="notes">{_e(manifest.description)}</p>' if manifest.description else "")
              + f"<p class=\"meta\">status <b>{_e(word)}</b> · "
              f"{len(run.variants)} variants · {run.epochs} epoch(s) · created {_e(run.created_at)} · "
              f"record mode {_e(manifest.record_mode)}"
              + (f" · commit <code>{_e(run.git_commit[:10])}</code>" if run.git_commit else "")
              + (" + uncommitted changes" if run.git_commit and manifest.git_dirty else "")
              + (f" · compared with run <code>{_e(summary.vs.run_id)}</code>" if summary.vs else "")
              + "</p></header>")
    body = "".join([
        header,
        _gates_html(gates) if gates is not None else "",
        _summary_html(summary),
        _plots_html(drawn or {}),
        '<section id="explorer"><h2>Results</h2>',
        _sampling_html(sampling, links),
        _EXPLORER,
        "</section>",
    ])
    style = _CSS + TRANSCRIPT_STYLE
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(content_security_policy(style))}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{style}</style></head>'
            f'<body>{body}<script type="application/json" id="report-data">{island}</script>'
            f"<script>{TRANSCRIPT_SCRIPT}</script><script>{_JS}</script></body></html>")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(style: str) -> str:
    """The report's own policy: only its two scripts and its stylesheet, by hash; images as data: URIs.

    Markup that slipped into the page (it cannot: every value goes in as text) still could not
    run script, load anything or send anything anywhere. ``frame-ancestors`` has no effect in a
    ``<meta>`` policy, so it is left to whatever serves the file.
    """
    return ("default-src 'none'; "
            f"script-src {_sha256(TRANSCRIPT_SCRIPT)} {_sha256(_JS)}; style-src {_sha256(style)}; "
            "img-src data:; base-uri 'none'; form-action 'none'")


_EXPLORER = """
<div class="controls">
  <label>Variant <select id="filter-variant"><option value="">all</option></select></label>
  <label>Grader <select id="filter-grader" title="with a grader chosen, Status filters that grader's verdict">
    <option value="">all</option></select></label>
  <label>Status <select id="filter-status"><option value="">all</option><option value="pass">pass</option>
    <option value="fail">fail</option><option value="error">error</option></select></label>
  <label>Tag <select id="filter-tag"><option value="">all</option></select></label>
  <label>Search <input id="search" type="search" placeholder="task, output, reason…"></label>
  <label>Rows per page <select id="page-size"><option value="50">50</option>
    <option value="100" selected>100</option><option value="500">500</option><option value="0">all</option></select></label>
</div>
<p id="count" aria-live="polite"></p>
<table id="results"><thead><tr id="results-head"></tr></thead><tbody id="rows"></tbody></table>
<div class="pager"><button id="prev" type="button">‹ previous</button><span id="page"></span>
  <button id="next" type="button">next ›</button></div>
"""

_CSS = """
:root{--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0;--pass:#1a7f37;--fail:#cf222e;--error:#9a6700;--hl:#f6f8fa}
@media (prefers-color-scheme: dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;--pass:#3fb950;
--fail:#f85149;--error:#d29922;--hl:#161b22}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:1400px;padding:16px 24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid var(--line)}
.meta,.note{color:var(--muted)}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
table{border-collapse:collapse;margin:8px 0;width:100%}th,td{border:1px solid var(--line);padding:4px 8px;
text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:var(--hl)}#results th{cursor:pointer;user-select:none;white-space:nowrap}
#results th.sorted-asc::after{content:" ▲"}#results th.sorted-desc::after{content:" ▼"}
tr.row{cursor:pointer}tr.row:hover,tr.row:focus{background:var(--hl);outline:none}
.status-pass{color:var(--pass);font-weight:600}.status-fail{color:var(--fail);font-weight:600}
.status-error{color:var(--error);font-weight:600}
#errors td{white-space:pre-line}
.banner{border:2px solid var(--fail);padding:.5em;font-weight:600}
.controls{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}.controls label{display:flex;gap:4px;align-items:center}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid var(--line);padding:6px}
figure img{max-width:100%;height:auto;display:block}figcaption{color:var(--muted);font-size:12px}
.detail td{background:var(--hl)}.detail pre{white-space:pre-wrap;word-break:break-word;margin:2px 0 8px;
max-height:320px;overflow:auto;font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.detail h4{margin:8px 0 2px}.pager{display:flex;gap:12px;align-items:center}
"""

_JS = r"""
(function(){
"use strict";
var DATA = JSON.parse(document.getElementById("report-data").textContent);
var rows = DATA.rows, names = DATA.scoreNames;
var state = {variant:"", grader:"", status:"", tag:"", q:"", sort:null, dir:1, page:0, size:100};
var columns = [
  {key:"task", label:"Task"}, {key:"variant", label:"Variant"}, {key:"epoch", label:"Epoch", num:true},
  {key:"status", label:"Status"}
].concat(names.map(function(n){return {key:"score:"+n, label:n, num:true};})).concat([
  {key:"latency", label:"Latency (s)", num:true}, {key:"cost", label:"Cost (USD)", num:true},
  {key:"tokens", label:"Tokens", num:true}, {key:"tags", label:"Tags"}
]);
function el(tag, cls, text){var e=document.createElement(tag); if(cls){e.className=cls;}
  if(text!==undefined&&text!==null){e.textContent=String(text);} return e;}
function score(r, name){for(var i=0;i<r.scores.length;i++){if(r.scores[i].name===name){return r.scores[i];}} return null;}
function verdict(s){return s?s.verdict:"";}
function value(r, key){
  if(key.indexOf("score:")===0){var s=score(r, key.slice(6)); return s&&s.value!==null?s.value:null;}
  if(key==="tags"){return r.tags.join(",");} return r[key];
}
function fmt(v, key){
  if(key==="cost"&&(v===null||v===undefined)){return "price unknown";}
  if(v===null||v===undefined){return "–";}
  if(key==="cost"){return Number(v).toFixed(5);} if(key==="latency"){return Number(v).toFixed(2);}
  if(key.indexOf("score:")===0){return Number(v).toFixed(2);} return String(v);
}
function show(v){if(v===null||v===undefined||v===""){return "";}
  return typeof v==="string"?v:JSON.stringify(v,null,1);}
function flat(v){return typeof v==="string"?v:JSON.stringify(v);}
function haystack(r){
  if(r._text===undefined){
    r._text=[r.task,r.variant,r.status,r.tags.join(" "),flat(r.input),flat(r.output),flat(r.expected),r.error?r.error.message:""].concat(
      r.scores.map(function(s){return s.name+" "+s.reason+" "+(s.error||"");})).join("\n").toLowerCase();
  }
  return r._text;
}
function matches(r){
  if(state.variant&&r.variant!==state.variant){return false;}
  if(state.tag&&r.tags.indexOf(state.tag)<0){return false;}
  if(state.grader){var s=score(r,state.grader); if(!s){return false;}
    if(state.status&&verdict(s)!==state.status){return false;}}
  else if(state.status&&r.status!==state.status){return false;}
  if(state.q&&haystack(r).indexOf(state.q)<0){return false;}
  return true;
}
function compare(a, b){
  var x=value(a,state.sort), y=value(b,state.sort);
  if(x===y){return a.i-b.i;} if(x===null||x===undefined){return 1;} if(y===null||y===undefined){return -1;}
  return (x<y?-1:1)*state.dir;
}
function detail(r){
  var box=el("div");
  if(r.pair){
    var base=rows[r.pair.base], bar=el("p","pair-bar"), btn=el("button","pair-toggle","Side by side with "+base.variant);
    btn.type="button"; var holder=el("div","pair-holder");
    btn.addEventListener("click",function(e){e.stopPropagation();
      if(holder.firstChild){holder.textContent=""; btn.textContent="Side by side with "+base.variant; return;}
      holder.appendChild(HarnessTranscript.renderPair({a:base,b:r,diff:r.pair.diff,graders:r.pair.graders,steps:r.pair.steps},
        [base.variant,r.variant])); btn.textContent="Hide side by side";});
    bar.appendChild(btn); box.appendChild(bar); box.appendChild(holder);
  }
  box.appendChild(HarnessTranscript.render(r));
  box.addEventListener("click",function(e){e.stopPropagation();});
  return box;
}
function toggle(tr, r){
  var next=tr.nextSibling;
  if(next&&next.classList&&next.classList.contains("detail")){next.parentNode.removeChild(next);
    tr.setAttribute("aria-expanded","false"); return;}
  var d=el("tr","detail"), td=el("td"); td.colSpan=columns.length; td.appendChild(detail(r)); d.appendChild(td);
  tr.parentNode.insertBefore(d, tr.nextSibling); tr.setAttribute("aria-expanded","true");
}
function renderRow(r){
  var tr=el("tr","row status-row-"+r.status); tr.tabIndex=0; tr.dataset.task=r.task; tr.dataset.variant=r.variant;
  tr.dataset.status=r.status; tr.setAttribute("aria-expanded","false");
  columns.forEach(function(c){var v=value(r,c.key);
    var td=el("td",(c.num?"num ":"")+(c.key==="status"?"status-"+r.status:""),fmt(v,c.key)); tr.appendChild(td);});
  tr.addEventListener("click",function(){toggle(tr,r);});
  tr.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault(); toggle(tr,r);}});
  return tr;
}
function render(){
  var list=rows.filter(matches);
  if(state.sort){list.sort(compare);}
  var size=state.size||list.length||1, pages=Math.max(1,Math.ceil(list.length/size));
  state.page=Math.min(state.page,pages-1);
  var start=state.page*size, shown=list.slice(start,start+size), body=document.getElementById("rows");
  var frag=document.createDocumentFragment(); shown.forEach(function(r){frag.appendChild(renderRow(r));});
  body.textContent=""; body.appendChild(frag);
  document.getElementById("count").textContent=list.length+" of "+rows.length+" embedded rows match"+
    (list.length?" · showing "+(start+1)+"–"+(start+shown.length):"");
  document.getElementById("page").textContent="page "+(state.page+1)+" of "+pages;
  document.getElementById("prev").disabled=state.page===0;
  document.getElementById("next").disabled=state.page>=pages-1;
}
function fill(id, values){var s=document.getElementById(id);
  values.forEach(function(v){var o=el("option",null,v); o.value=v; s.appendChild(o);});}
function header(){
  var head=document.getElementById("results-head");
  columns.forEach(function(c){var th=el("th",null,c.label); th.dataset.key=c.key; th.tabIndex=0;
    th.setAttribute("aria-sort","none");
    var sort=function(){if(state.sort===c.key){state.dir=-state.dir;}else{state.sort=c.key; state.dir=1;}
      Array.prototype.forEach.call(head.children,function(h){h.className=""; h.setAttribute("aria-sort","none");});
      th.className=state.dir>0?"sorted-asc":"sorted-desc";
      th.setAttribute("aria-sort",state.dir>0?"ascending":"descending"); render();};
    th.addEventListener("click",sort);
    th.addEventListener("keydown",function(e){if(e.key==="Enter"){sort();}});
    head.appendChild(th);});
}
function bind(id, key, transform){
  var node=document.getElementById(id);
  var update=function(){var v=transform?transform(node.value):node.value;
    if(v===state[key]){return;} state[key]=v; state.page=0; render();};
  node.addEventListener("input",update); node.addEventListener("change",update);
}
fill("filter-variant", DATA.variants); fill("filter-grader", names); fill("filter-tag", DATA.tags);
header();
bind("filter-variant","variant"); bind("filter-grader","grader"); bind("filter-status","status");
bind("filter-tag","tag"); bind("search","q",function(v){return v.trim().toLowerCase();});
bind("page-size","size",function(v){return parseInt(v,10)||0;});
document.getElementById("prev").addEventListener("click",function(){state.page-=1; render();});
document.getElementById("next").addEventListener("click",function(){state.page+=1; render();});
render();
})();
"""
