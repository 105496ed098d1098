/* harness view: the pages. Every number comes from the JSON API (/api/...); nothing is computed
 * here that the server has not decided (statuses, verdicts, gates). Text goes in with textContent. */
(function(){
"use strict";
var T = window.HarnessTranscript, el = T.el;
var main = document.getElementById("main"), crumbs = document.getElementById("crumbs"), liveBadge = document.getElementById("live");
var timers = [];

function api(path){
  return fetch(path, {headers:{"Accept":"application/json"}}).then(function(r){
    return r.json().then(function(body){ if(!r.ok){ throw new Error(body.error || r.statusText); } return body; });
  });
}
function enc(s){ return encodeURIComponent(s); }
function link(href, text, cls){ var a = el("a", cls, text); a.href = href; return a; }
function num(v, digits){ return v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 3 : digits); }
function money(v){ return v === null || v === undefined ? "price unknown" : "$" + Number(v).toFixed(5); }
function clear(node){ while(node.firstChild){ node.removeChild(node.firstChild); } return node; }
function setCrumbs(parts){ clear(crumbs); parts.forEach(function(p){ crumbs.appendChild(document.createTextNode(" / "));
  crumbs.appendChild(p.href ? link(p.href, p.text) : el("span", null, p.text)); }); }
function table(headers, rows, cls){
  var t = el("table", cls), h = el("tr");
  headers.forEach(function(c){ h.appendChild(el("th", null, c)); }); t.appendChild(h);
  rows.forEach(function(r){ var tr = el("tr"); r.forEach(function(c){ var td = el("td");
    if(c instanceof Node){ td.appendChild(c); } else { td.textContent = c === null || c === undefined ? "–" : String(c); }
    tr.appendChild(td); }); t.appendChild(tr); });
  return t;
}
function statusText(s){ return el("span", "status-" + s, s); }
function failed(node, err){ node.appendChild(el("p", "problems", "Could not load: " + err.message)); }
function every(ms, fn){ var id = setInterval(fn, ms); timers.push(id); return id; }
function stopTimers(){ timers.forEach(clearInterval); timers = []; }
function interval(i){ if(!i || i.estimate === null || i.estimate === undefined){ return "–"; }
  var shown = num(i.estimate, 2) + " [" + num(i.low, 2) + ", " + num(i.high, 2) + "]";
  /* a one-sided release test's interval is at 1 - 2 alpha (90%): the cell says so, the column says 95% */
  if(i.confidence !== undefined && i.confidence !== null && Math.abs(i.confidence - 0.95) > 1e-9){ shown += " (" + Math.round(100 * i.confidence) + "%)"; }
  return i.low === null || i.low === undefined ? num(i.estimate, 2) : shown; }
function headline(summary){
  if(!summary){ return "–"; }
  var parts = summary.leaderboard.filter(function(r){ return r.metric === "pass_rate"; })
    .map(function(r){ return r.variant + " " + num(r.mean.estimate, 2); });
  return parts.join(" · ") || "–";
}
/* The gates in words: the analysis layer's verdict (gate_verdict), never an exit number; pending
 * while the run is still running (a verdict on half a run is no verdict). */
function gateText(a, status){
  if(status === "running"){ return el("span", "gate-pending", "pending: the run is still running"); }
  if(!a){ return el("span", "note", "…"); }
  if(a.gates_error){ return el("span", "gate-error", "error: " + a.gates_error); }
  var g = a.gates; if(!g){ return el("span", "note", a.error || "–"); }
  if(!g.results.length && !g.problems.length){ return el("span", "note", "no gates"); }
  var failedN = g.results.filter(function(r){ return r.status !== "pass"; }).length;
  if(g.exit_code === 0){ return el("span", "gate-pass", "pass (" + g.results.length + ")"); }
  var word = a.gate_verdict || g.status;
  return el("span", g.exit_code === 1 ? "gate-fail" : "gate-error",
    word + (g.exit_code === 1 && failedN ? " · " + failedN + " of " + g.results.length + " gates" : ""));
}
function duration(seconds){
  if(seconds === null || seconds === undefined){ return ""; }
  if(seconds < 90){ return Math.round(seconds) + " s"; }
  if(seconds < 5400){ return Math.round(seconds / 60) + " min"; }
  return (seconds / 3600).toFixed(1) + " h";
}
function progress(state){
  var box = el("div", "run-progress");
  var text = state.rows + (state.expected_rows ? " of " + state.expected_rows : "") + " rows";
  if(state.status === "running" && state.eta_s !== null && state.eta_s !== undefined){ text += " · about " + duration(state.eta_s) + " left"; }
  box.appendChild(el("span", "progress-text", text));
  if(state.expected_rows){ var bar = el("div", "progress"), fill = el("div");
    fill.style.width = Math.min(100, 100 * state.rows / state.expected_rows) + "%"; bar.appendChild(fill); box.appendChild(bar); }
  return box;
}
var MODES = {none: "replayed from cassettes", once: "live, recording what was missing", rewrite: "live, re-recorded",
  off: "live, not recorded"};
function provenance(r){
  var parts = [MODES[r.record_mode] || ("record mode " + r.record_mode)];
  if(r.git_commit){ parts.push("commit " + r.git_commit.slice(0, 10) + (r.git_dirty ? " + uncommitted changes" : "")); }
  return parts.join(" · ");
}
function runName(r){
  var box = el("div", "run-name");
  box.appendChild(r.openable === false ? el("span", null, r.run_id) : link("/runs/" + enc(r.run_id), r.run_id, "run-link"));
  if(r.label){ box.appendChild(el("div", "run-label", r.label)); }
  if(r.recorded_run_id){ box.appendChild(el("div", "note", "a copy: its run.json names " + r.recorded_run_id)); }
  return box;
}

/* ---- home ------------------------------------------------------------------------------ */
// run id -> {rows, promise}: one summary request per run and row count, however often the list redraws.
var summaries = {};
function loadSummary(runId, rows){
  var cached = summaries[runId];
  if(!cached || cached.rows !== rows){
    cached = summaries[runId] = {rows: rows, promise: api("/api/runs/" + enc(runId) + "/summary")
      .catch(function(e){ return {error: e.message}; })};
  }
  return cached.promise;
}
function home(){
  setCrumbs([]);
  var params = new URLSearchParams(location.search);
  var box = clear(main);
  box.appendChild(el("h1", null, "Runs"));
  var controls = el("div", "controls"), label = el("label", null, "Suite "), select = el("select"); select.id = "suite-filter";
  select.appendChild(el("option", null, "all")).value = "";
  label.appendChild(select); controls.appendChild(label); box.appendChild(controls);
  var list = el("div"); list.id = "runs"; box.appendChild(list);
  function draw(data){
    var suites = [];
    data.runs.forEach(function(r){ if(suites.indexOf(r.suite) < 0){ suites.push(r.suite); } });
    if(select.options.length !== suites.length + 1){
      while(select.options.length > 1){ select.remove(1); }
      suites.slice().sort().forEach(function(s){ var o = el("option", null, s); o.value = s; select.appendChild(o); });
      select.value = params.get("suite") || "";
    }
    clear(list);
    if(data.traces){ var tl = el("p", "traces-home"); tl.appendChild(link("/traces", "Production traces", "traces-link"));
      tl.appendChild(el("span", "note", " from " + data.traces.folder)); list.appendChild(tl); }
    if(!data.runs.length){ list.appendChild(el("p", "note", "No runs here yet: harness run evals/test_<suite>.py")); }
    var wanted = select.value, running = false;
    suites.forEach(function(suite){
      if(wanted && suite !== wanted){ return; }
      var runs = data.runs.filter(function(r){ return r.suite === suite; });
      var sec = el("section", "suite"); sec.dataset.suite = suite;
      sec.appendChild(el("h2", null, (suite === "?" ? "Folders that cannot be opened" : suite) +
        " (" + runs.length + " run" + (runs.length === 1 ? "" : "s") + ")"));
      var rows = runs.map(function(r){
        running = running || r.status === "running";
        var head = el("span", "headline", "…"), gates = el("span", "gates", "…");
        if(r.openable !== false){
          loadSummary(r.run_id, r.rows).then(function(a){
            head.textContent = a.error && !a.summary ? a.error : headline(a.summary);
            clear(gates).appendChild(gateText(a, r.status)); });
        } else { head.textContent = "–"; clear(gates).appendChild(el("span", "note", "–")); }
        var st = el("div"); st.appendChild(statusText(r.status));
        (r.problems || []).forEach(function(p){ st.appendChild(el("div", "problems small", p)); });
        var what = el("div"); what.appendChild(el("div", null, (r.variants || []).join(", ")));
        if(r.openable !== false){ what.appendChild(el("div", "note", provenance(r))); }
        if(r.description){ what.appendChild(el("div", "note run-notes", r.description)); }
        return [runName(r), st, (r.created_at || "").replace("T", " ").slice(0, 19), what, progress(r), head, gates];
      });
      sec.appendChild(table(["Run", "Status", "Started (UTC)", "Variants", "Progress", "Pass rate by variant", "Gates"], rows, "runs"));
      list.appendChild(sec);
    });
    liveBadge.hidden = !running; liveBadge.textContent = running ? "● a run is in progress" : "";
    anyRunning = running;
  }
  var anyRunning = false, ticks = 0, drawn = "";
  function load(){ api("/api/runs").then(function(data){
    // Redraw only when something changed (a new run, more rows, a new status).
    var key = JSON.stringify(data.runs.map(function(r){ return [r.run_id, r.status, r.rows]; })) + select.value;
    if(key !== drawn){ drawn = key; draw(data); } }, function(e){ failed(clear(list), e); }); }
  select.addEventListener("change", function(){
    var q = select.value ? "?suite=" + enc(select.value) : ""; history.replaceState(null, "", "/" + q); params = new URLSearchParams(q); load(); });
  // Every 2 s while a run is in progress, else every 10 s (to notice new runs).
  load(); every(2000, function(){ ticks++; if(anyRunning || ticks % 5 === 0){ load(); } });
}

/* ---- a run ----------------------------------------------------------------------------- */
function pText(r){
  // the p the label rests on (the analysis layer's p_for_label: one-sided for a gate's "worse?")
  var p = r.p_for_label !== undefined ? r.p_for_label : r.p_adjusted;
  if(p !== null && p !== undefined){ return el("span", null, num(p, 4) + (r.alternative && r.alternative !== "two-sided" && p === r.p_adjusted ? " (one-sided)" : "")); }
  var x = el("span", "note", r.excluded ? "not in family" : "–"); if(r.excluded){ x.title = r.excluded; } return x;
}
function winsLosses(r){
  return r.candidate_only === null || r.candidate_only === undefined ? "–" : r.candidate_only + " / " + r.baseline_only;
}
function summaryTables(box, a, status){
  clear(box);
  if(a.error && !a.summary){ box.appendChild(el("p", "note", a.error)); return; }
  var s = a.summary, g = a.gates;
  var gsec = el("section"); gsec.id = "gates"; box.appendChild(gsec);
  gsec.appendChild(el("h2", null, "Gates")); gsec.lastChild.appendChild(document.createTextNode(" — ")); gsec.lastChild.appendChild(gateText(a, status));
  if(g && status !== "running"){
    gsec.appendChild(table(["Result", "Gate", "Variant", "Value", "95% CI", "Threshold / baseline", "Why"], g.results.map(function(r){
      return [el("span", "gate-" + r.status, r.status.toUpperCase()), r.gate, r.variant || "all", num(r.value), interval(r.ci),
              r.op ? r.op + " " + r.threshold : (r.baseline || ""), r.status === "pass" ? "" : r.message]; })));
    g.problems.forEach(function(p){ gsec.appendChild(el("p", "problems", p)); });
  } else if(status === "running"){ gsec.appendChild(el("p", "note", "Gates are judged when the run ends.")); }
  var lsec = el("section"); lsec.id = "leaderboard"; box.appendChild(lsec);
  lsec.appendChild(el("h2", null, "Leaderboard"));
  lsec.appendChild(el("p", "note", "Per-task means (epochs averaged first), 95% intervals. " +
    (s.errors_counted || (g && g.errors_counted) || "")));
  // One row per metric, one column per variant: the variants compare at a glance.
  var variants = s.run.variants, byKey = {};
  s.leaderboard.forEach(function(r){ byKey[r.metric + "\u0000" + r.variant] = r; });
  lsec.appendChild(table(["Metric (mean [95% CI])"].concat(variants), s.metrics.map(function(m){
    return [m].concat(variants.map(function(v){ var r = byKey[m + "\u0000" + v];
      if(!r){ return "–"; } var cell = el("span", null, interval(r.mean));
      cell.title = r.n_tasks + " tasks · " + r.task_errors + " task errors · " + r.grader_errors + " grader errors";
      return cell; })); }), "leaderboard"));
  if(s.comparisons.length){
    var csec = el("section"); csec.id = "comparisons"; box.appendChild(csec);
    csec.appendChild(el("h2", null, s.baseline ? "Comparisons vs baseline " + s.baseline : "Comparisons (each row names its baseline)"));
    csec.appendChild(el("p", "note", "Paired over every task both were run on, errors counted as failures. " + s.correction +
      ". Wins / losses: tasks only the candidate / only the baseline passed. Tasks needed: how many tasks a difference of " +
      num(s.effect, 2) + " would need to be detected."));
    var families = [];
    csec.appendChild(table(["Candidate", "Baseline", "Metric", "Base", "Cand.", "Δ", "95% CI", "p", "p (adj.)", "Wins / losses",
                            "Tasks needed", "Verdict", "Tasks"], s.comparisons.map(function(c){
      var r = c.result; if(r.family && families.indexOf(r.family) < 0){ families.push(r.family); }
      var verdict = el("b", null, r.label); if(r.family){ verdict.title = "family: " + r.family; }
      return [c.candidate, c.baseline, c.metric, num(r.baseline_mean), num(r.candidate_mean),
        r.diff === null ? "–" : (r.diff >= 0 ? "+" : "") + num(r.diff), interval(r.ci), num(r.p_value, 4), pText(r),
        winsLosses(r), r.tasks_needed === null || r.tasks_needed === undefined ? "–" : r.tasks_needed, verdict, r.n]; }), "comparisons"));
    families.forEach(function(f){ csec.appendChild(el("p", "note family", "Family: " + f)); });
  }
  var usec = el("section"); usec.id = "usage"; box.appendChild(usec);
  usec.appendChild(el("h2", null, "Cost, tokens and latency per task"));
  usec.appendChild(table(["Variant", "Attempts", "Cost mean", "Tokens mean", "Latency p50 (s)", "p95", "Task errors"], s.variants.map(function(v){
    return [v.variant, v.attempts, v.unpriced_calls ? "price unknown" : money(v.cost_usd.mean), num(v.tokens.mean, 0),
            num(v.latency_s.p50, 2), num(v.latency_s.p95, 2), v.task_errors]; })));
  (s.notes || []).forEach(function(n){ box.appendChild(el("p", "note", n)); });
}

function identity(meta, runId, s){
  clear(meta);
  var line = el("p");
  line.appendChild(el("span", null, s.suite + " · ")); line.appendChild(statusText(s.status));
  line.appendChild(el("span", null, " · started " + (s.created_at || "").replace("T", " ").slice(0, 19) + " UTC · " + provenance(s) +
    (s.baseline ? " · baseline " + s.baseline : "")));
  meta.appendChild(line);
  if(s.description){ meta.appendChild(el("p", "run-notes", s.description)); }
  if(s.recorded_run_id){ meta.appendChild(el("p", "note", "A copy: its run.json names run " + s.recorded_run_id + ".")); }
  var prompts = el("p", "prompts"); prompts.appendChild(el("span", null, "Variants: "));
  s.variants.forEach(function(v, i){ var hash = s.prompts ? s.prompts[v] : null;
    var item = el("span", "variant-id", v + (hash ? " (prompt " + hash.slice(0, 12) + ")" : ""));
    if(hash){ item.title = "prompt sha256 " + hash; }
    if(i){ prompts.appendChild(document.createTextNode(" · ")); } prompts.appendChild(item); });
  if(s.variants.length > 1){ prompts.appendChild(document.createTextNode(" · "));
    prompts.appendChild(link("/runs/" + enc(runId) + "/prompts?a=" + enc(s.variants[0]) + "&b=" + enc(s.variants[1]),
      "diff the prompts", "prompts-link")); }
  meta.appendChild(prompts);
  meta.appendChild(progress(s));
  s.problems.forEach(function(p){ meta.appendChild(el("p", "problems", p)); });
}
function scoreCell(s){ return el("td", "num" + (s ? " status-" + s.verdict : ""), s ? (s.value === null ? s.verdict : num(s.value, 2)) : ""); }
function preview(text, cls){ var td = el("td", "preview " + (cls || "")); td.appendChild(el("div", "clip", text || "–"));
  if(text){ td.title = text; } return td; }

function runPage(runId){
  setCrumbs([{text: runId}]);
  var box = clear(main);
  var title = el("h1", null, runId); box.appendChild(title);
  var meta = el("div", "meta"); box.appendChild(meta);
  var nav = el("p", "controls"); box.appendChild(nav);
  nav.appendChild(link("#explorer", "Results ↓", "results-link"));
  nav.appendChild(link("/runs/" + enc(runId) + "/matrix", "Tasks × variants matrix", "matrix-link"));
  var summaryBox = el("div"); summaryBox.id = "summary"; box.appendChild(summaryBox);
  var explorer = el("section"); explorer.id = "explorer"; box.appendChild(explorer);
  explorer.appendChild(el("h2", null, "Results"));
  var state = {view: "rows", variant: "", grader: "", status: "", tag: "", q: "", sort: "task", desc: false, offset: 0, limit: 50};
  var defaults = {view: "rows", sort: "task", offset: 0, limit: 50};
  var q = new URLSearchParams(location.search);
  Object.keys(state).forEach(function(k){ if(q.has(k)){ state[k] = k === "offset" || k === "limit" ? parseInt(q.get(k), 10) || state[k]
    : k === "desc" ? q.get(k) === "1" : q.get(k); } });
  var controls = el("div", "controls"); explorer.appendChild(controls);
  function control(label, id, options){
    var l = el("label", null, label + " "), s = el("select"); s.id = id; l.appendChild(s); controls.appendChild(l);
    options.forEach(function(o){ var opt = el("option", null, o[1]); opt.value = o[0]; s.appendChild(opt); }); return s;
  }
  var fView = control("Show", "view", [["rows", "one row per attempt"], ["grid", "one row per task, a column per variant"]]);
  var fVariant = control("Variant", "filter-variant", [["", "all"]]);
  var fGrader = control("Grader", "filter-grader", [["", "all"]]);
  fGrader.title = "with a grader chosen, Status filters that grader's verdict";
  var fStatus = control("Status", "filter-status", [["", "all"], ["pass", "pass"], ["fail", "fail"], ["error", "error"]]);
  var fTag = control("Tag", "filter-tag", [["", "all"]]);
  var sl = el("label", null, "Search "), search = el("input"); search.id = "search"; search.type = "search";
  search.placeholder = "task, output, reason…"; sl.appendChild(search); controls.appendChild(sl);
  var count = el("p"); count.id = "count"; count.setAttribute("aria-live", "polite"); explorer.appendChild(count);
  var results = el("table"); results.id = "results"; explorer.appendChild(results);
  var pager = el("div", "pager"), prev = el("button", null, "‹ previous"), pageText = el("span"), next = el("button", null, "next ›");
  prev.id = "prev"; next.id = "next"; pageText.id = "page";
  pager.appendChild(prev); pager.appendChild(pageText); pager.appendChild(next); explorer.appendChild(pager);
  var scoreNames = [], runState = null, pending = 0;

  function columns(){
    return [["task", "Task"], ["variant", "Variant"], ["epoch", "Epoch"], ["status", "Status"], ["input", "Input", true],
            ["expected", "Expected", true], ["output", "Output", true]]
      .concat(scoreNames.map(function(n){ return ["score:" + n, n]; }))
      .concat([["latency", "Latency (s)"], ["cost", "Cost (USD)"], ["tokens", "Tokens"]]);
  }
  function queryString(forApi){
    var p = new URLSearchParams();
    Object.keys(state).forEach(function(k){ var v = state[k];
      if(k === "view" && forApi){ return; }
      if(v !== "" && v !== false && (forApi ? !(k === "offset" && v === 0) : v !== defaults[k])){ p.set(k, v === true ? "1" : v); } });
    return p.toString();
  }
  function header(cols, sortable){
    var head = el("tr");
    cols.forEach(function(c){ var th = el("th", null, c[1]);
      if(sortable && !c[2]){ th.dataset.key = c[0];
        if(state.sort === c[0]){ th.className = state.desc ? "sorted-desc" : "sorted-asc"; }
        th.addEventListener("click", function(){ if(state.sort === c[0]){ state.desc = !state.desc; } else { state.sort = c[0]; state.desc = false; }
          state.offset = 0; loadRows(); }); }
      head.appendChild(th); });
    results.appendChild(head);
  }
  function opener(node, line){
    var open = function(){ location.href = "/runs/" + enc(runId) + "/rows/" + line; };
    node.addEventListener("click", function(e){ if(e.target.tagName !== "A"){ open(); } });
    node.addEventListener("keydown", function(e){ if(e.key === "Enter"){ open(); } });
    node.tabIndex = 0;
  }
  function drawRows(page){
    clear(results); results.className = "rows";
    header(columns(), true);
    page.rows.forEach(function(r){
      var tr = el("tr", "row status-row-" + r.status); tr.dataset.line = r.line; tr.dataset.task = r.task; tr.dataset.variant = r.variant;
      tr.dataset.status = r.status;
      columns().forEach(function(c){ var k = c[0], td;
        if(k.indexOf("score:") === 0){ td = scoreCell(r.scores[k.slice(6)]); }
        else if(c[2]){ td = preview(r[k], k); }
        else if(k === "status"){ td = el("td", "status-" + r.status, r.status); }
        else if(k === "latency"){ td = el("td", "num", num(r.latency, 2)); }
        else if(k === "cost"){ td = el("td", "num", r.cost === null ? "price unknown" : Number(r.cost).toFixed(5)); }
        else if(k === "task"){ td = el("td"); td.appendChild(link("/runs/" + enc(runId) + "/rows/" + r.line, r.task)); }
        else { td = el("td", k === "epoch" || k === "tokens" ? "num" : "", r[k]); }
        tr.appendChild(td); });
      opener(tr, r.line);
      results.appendChild(tr);
    });
    pages(page.matched, page.total_rows, page.offset, page.rows.length, "rows");
    if(page.sorted === false){ // a big run's index is still being built: file order now, sorted in a moment
      count.textContent += " · in file order while " + page.total_rows + " rows are indexed for sorting…";
      setTimeout(function(){ if(state.view === "rows"){ loadRows(); } }, 2000);
    }
  }
  function drawGrid(grid){
    clear(results); results.className = "grid";
    header([["task", "Task"], ["input", "Input"], ["expected", "Expected"]].concat(grid.variants.map(function(v){ return [v, v]; })), false);
    grid.tasks.forEach(function(t){
      var tr = el("tr", "task-row"); tr.dataset.task = t.task;
      var name = el("td", "task"); name.appendChild(el("b", null, t.task));
      if(t.tags.length){ name.appendChild(el("div", "note", t.tags.join(", "))); }
      tr.appendChild(name); tr.appendChild(preview(t.input, "input")); tr.appendChild(preview(t.expected, "expected"));
      grid.variants.forEach(function(v){
        var td = el("td", "cell"); td.dataset.variant = v;
        (t.cells[v] || []).forEach(function(c){
          var at = el("div", "attempt status-row-" + c.status); at.dataset.line = c.line; at.dataset.status = c.status;
          var top = el("div"); top.appendChild(link("/runs/" + enc(runId) + "/rows/" + c.line, c.status, "status-" + c.status));
          if(t.cells[v].length > 1){ top.appendChild(el("span", "note", " epoch " + c.epoch)); }
          Object.keys(c.scores).forEach(function(n){ var sc = c.scores[n];
            top.appendChild(el("span", "score status-" + sc.verdict, " " + n + " " + (sc.value === null ? sc.verdict : num(sc.value, 2)))); });
          at.appendChild(top); at.appendChild(el("div", "clip output", c.output || "–")); opener(at, c.line);
          td.appendChild(at); });
        if(!(t.cells[v] || []).length){ td.appendChild(el("span", "note", "not run")); }
        tr.appendChild(td); });
      results.appendChild(tr);
    });
    pages(grid.matched, grid.total_tasks, grid.offset, grid.tasks.length, "tasks");
  }
  function pages(matched, total, offset, shown, what){
    var first = matched ? offset + 1 : 0, last = offset + shown;
    count.textContent = matched + " of " + total + " " + what + " match" + (matched ? " · showing " + first + "–" + last : "");
    var n = Math.max(1, Math.ceil(matched / state.limit));
    pageText.textContent = "page " + (Math.floor(offset / state.limit) + 1) + " of " + n;
    prev.disabled = offset === 0; next.disabled = last >= matched;
  }
  function loadRows(){
    var shown = queryString(false);
    history.replaceState(null, "", "/runs/" + enc(runId) + (shown ? "?" + shown : ""));
    var ticket = ++pending, grid = state.view === "grid";
    return api("/api/runs/" + enc(runId) + (grid ? "/grid?" : "/rows?") + queryString(true)).then(function(page){
      if(ticket === pending){ (grid ? drawGrid : drawRows)(page); } },
      function(e){ count.textContent = "Could not load rows: " + e.message; });
  }
  function bind(node, key, transform){
    var update = function(){ var v = transform ? transform(node.value) : node.value; if(v === state[key]){ return; }
      state[key] = v; state.offset = 0; loadRows(); };
    node.addEventListener("change", update); node.addEventListener("input", update);
  }
  function fill(select, values){ values.forEach(function(v){ if(![].some.call(select.options, function(o){ return o.value === v; })){
    var o = el("option", null, v); o.value = v; select.appendChild(o); } }); }
  bind(fView, "view"); bind(fVariant, "variant"); bind(fGrader, "grader"); bind(fStatus, "status"); bind(fTag, "tag");
  bind(search, "q", function(v){ return v.trim(); });
  prev.addEventListener("click", function(){ state.offset = Math.max(0, state.offset - state.limit); loadRows(); });
  next.addEventListener("click", function(){ state.offset += state.limit; loadRows(); });

  function drawState(s){
    runState = s;
    clear(title).textContent = s.label ? s.label + " — " + runId : runId;
    identity(meta, runId, s);
    fill(fVariant, s.variants);
    liveBadge.hidden = s.status !== "running";
    liveBadge.textContent = "● live: " + s.rows + (s.expected_rows ? " of " + s.expected_rows : "") + " rows" +
      (s.eta_s !== null && s.eta_s !== undefined ? " · about " + duration(s.eta_s) + " left" : "");
  }
  function loadFacets(){
    return api("/api/runs/" + enc(runId) + "/facets").then(function(f){
      var changed = f.scores.length !== scoreNames.length; scoreNames = f.scores;
      fill(fVariant, f.variants); fill(fGrader, f.scores); fill(fTag, f.tags);
      [["view", fView], ["variant", fVariant], ["grader", fGrader], ["status", fStatus], ["tag", fTag]].forEach(function(p){ p[1].value = state[p[0]]; });
      search.value = state.q; return changed; });
  }
  function loadSummary(){ return api("/api/runs/" + enc(runId) + "/summary").then(function(a){
    summaryTables(summaryBox, a, runState ? runState.status : ""); }, function(e){ failed(clear(summaryBox), e); }); }
  api("/api/runs/" + enc(runId)).then(function(s){
    drawState(s); loadRows().then(function(){ loadFacets().then(function(changed){ if(changed){ loadRows(); } }); }); loadSummary();
    if(s.status === "running"){
      var ticks = 0;
      var id = every(1500, function(){
        ticks++;
        api("/api/runs/" + enc(runId)).then(function(ns){
          var grew = ns.rows !== runState.rows, finished = ns.status !== "running";
          drawState(ns);
          if(grew || finished){ loadRows(); loadFacets(); }
          if(finished || ticks % 4 === 0){ loadSummary(); }
          if(finished){ clearInterval(id); }
        });
      });
    }
  }, function(e){ failed(box, e); });
}

/* ---- a task's transcript --------------------------------------------------------------- */
function neighbour(runId, ref, text, id){
  if(!ref){ var off = el("span", "note", text); off.id = id; return off; }
  var a = link("/runs/" + enc(runId) + "/rows/" + ref.line, text + " " + ref.task + " · " + ref.variant, "status-" + ref.status);
  a.id = id; return a;
}
/* Search inside a transcript: every element whose own text holds the words is marked, and the
 * collapsed parts around it open; Enter goes to the next match. */
function transcriptSearch(bar, holder){
  var l = el("label", null, "Find in transcript "), input = el("input"), info = el("span", "note"); input.type = "search";
  input.id = "transcript-search"; info.id = "transcript-hits"; l.appendChild(input); bar.appendChild(l); bar.appendChild(info);
  var hits = [], at = -1;
  function run(){
    hits.forEach(function(h){ h.classList.remove("hit", "hit-current"); }); hits = []; at = -1;
    var q = input.value.trim().toLowerCase(); if(!q){ info.textContent = ""; return; }
    [].forEach.call(holder.querySelectorAll("pre, td, li, .title, .facts, summary code, .preview"), function(n){
      if(n.textContent.toLowerCase().indexOf(q) >= 0 && !n.querySelector("pre, td, li")){ hits.push(n); } });
    hits.forEach(function(h){ h.classList.add("hit"); var d = h.parentElement;
      while(d && d !== holder){ if(d.tagName === "DETAILS" && !d.open){ d.open = true; } d = d.parentElement; } });
    info.textContent = hits.length + " match" + (hits.length === 1 ? "" : "es");
    step();
  }
  function step(){ if(!hits.length){ return; } if(at >= 0){ hits[at].classList.remove("hit-current"); }
    at = (at + 1) % hits.length; hits[at].classList.add("hit-current"); hits[at].scrollIntoView({block: "center"}); }
  input.addEventListener("input", run);
  input.addEventListener("keydown", function(e){ if(e.key === "Enter"){ e.preventDefault(); step(); } });
  return input;
}
function taskPage(runId, line){
  setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: "row " + line}]);
  var box = clear(main);
  api("/api/runs/" + enc(runId) + "/rows/" + line).then(function(t){
    setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: t.task + " · " + t.variant + (t.epoch > 1 ? " · epoch " + t.epoch : "")}]);
    box.appendChild(el("h1", null, "Task " + t.task + " — " + t.variant));
    var steps = el("p", "controls steps");
    steps.appendChild(neighbour(runId, t.prev, "‹ previous:", "prev-row"));
    steps.appendChild(el("span", "note", t.position ? t.position + " of " + t.of + " (by task) · keys ← →" :
      t.indexing ? "previous and next once the run's " + t.of + " rows are indexed (reload in a moment)" : ""));
    steps.appendChild(neighbour(runId, t.next, "next:", "next-row"));
    box.appendChild(steps);
    var bar = el("div", "controls"); box.appendChild(bar);
    var holder = el("div"); holder.id = "transcript";
    var find = transcriptSearch(bar, holder);
    document.addEventListener("keydown", function(e){
      var typing = /^(INPUT|SELECT|TEXTAREA)$/.test((e.target && e.target.tagName) || "");
      if(e.key === "/" && !typing){ e.preventDefault(); find.focus(); return; }
      if(typing || e.altKey || e.ctrlKey || e.metaKey){ return; }
      var to = e.key === "ArrowLeft" || e.key === "k" ? t.prev : e.key === "ArrowRight" || e.key === "j" ? t.next : null;
      if(to){ location.href = "/runs/" + enc(runId) + "/rows/" + to.line; }
    });
    api("/api/runs/" + enc(runId)).then(function(s){
      var others = s.variants.filter(function(v){ return v !== t.variant; });
      if(!others.length){ return; }
      var l = el("label", null, "Side by side with "), sel = el("select"); sel.id = "compare-with";
      others.forEach(function(v){ var o = el("option", null, v); o.value = v; sel.appendChild(o); });
      var go = link("#", "compare", "compare-link");
      var update = function(){ go.href = "/runs/" + enc(runId) + "/compare?task=" + enc(t.task) + "&a=" + enc(t.variant) + "&b=" + enc(sel.value) +
        "&epoch=" + t.epoch; };
      sel.addEventListener("change", update); update();
      l.appendChild(sel); bar.appendChild(l); bar.appendChild(go);
    });
    holder.appendChild(T.render(t)); box.appendChild(holder);
  }, function(e){ failed(box, e); });
}

/* ---- two variants' prompts ------------------------------------------------------------- */
function promptsPage(runId){
  var p = new URLSearchParams(location.search), a = p.get("a") || "", b = p.get("b") || "";
  setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: "prompts"}]);
  var box = clear(main);
  box.appendChild(el("h1", null, "Prompts: " + a + " vs " + b));
  var bar = el("div", "controls"); box.appendChild(bar);
  var out = el("div"); out.id = "prompt-diff"; box.appendChild(out);
  api("/api/runs/" + enc(runId)).then(function(s){
    function sel(id, label, current){ var l = el("label", null, label + " "), x = el("select"); x.id = id;
      s.variants.forEach(function(v){ var o = el("option", null, v); o.value = v; x.appendChild(o); }); x.value = current;
      l.appendChild(x); bar.appendChild(l); return x; }
    var sa = sel("prompt-a", "A", a), sb = sel("prompt-b", "B", b);
    var go = function(){ location.href = "/runs/" + enc(runId) + "/prompts?a=" + enc(sa.value) + "&b=" + enc(sb.value); };
    sa.addEventListener("change", go); sb.addEventListener("change", go);
  });
  api("/api/runs/" + enc(runId) + "/prompts?a=" + enc(a) + "&b=" + enc(b)).then(function(d){
    [d.a, d.b].forEach(function(x){ out.appendChild(el("p", "facts", x.variant + ": " + (x.name ? x.name + "@" + x.version : "no prompt") +
      (x.sha256 ? " · sha256 " + x.sha256 : ""))); });
    if(d.a.sha256 && d.a.sha256 === d.b.sha256){ out.appendChild(el("p", "note", "The same prompt (equal sha256).")); }
    if(!d.parts.length){ out.appendChild(el("p", "note", "run.json holds no prompt text for these variants " +
      "(runs written before prompts were stored keep only their sha256).")); }
    d.parts.forEach(function(part){ out.appendChild(el("h3", null, "Part " + part.part));
      out.appendChild(T.diffView(part.diff)); });
  }, function(e){ failed(out, e); });
}

/* ---- side by side ---------------------------------------------------------------------- */
function comparePage(runId){
  var p = new URLSearchParams(location.search), task = p.get("task") || "", a = p.get("a") || "", b = p.get("b") || "";
  var runB = p.get("run_b") || runId, epoch = p.get("epoch") || "1";
  setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: "side by side"}]);
  var box = clear(main);
  box.appendChild(el("h1", null, "Task " + task + ": " + a + " vs " + b + (runB !== runId ? " (" + runB + ")" : "")));
  var bar = el("div", "controls"); box.appendChild(bar);
  var out = el("div"); out.id = "pair"; box.appendChild(out);
  Promise.all([api("/api/runs/" + enc(runId)), api("/api/runs?suite=")]).then(function(res){
    var s = res[0], runs = res[1].runs.filter(function(r){ return r.suite === s.suite; });
    function sel(id, label, values, current){ var l = el("label", null, label + " "), x = el("select"); x.id = id;
      values.forEach(function(v){ var o = el("option", null, v); o.value = v; x.appendChild(o); }); x.value = current; l.appendChild(x);
      bar.appendChild(l); return x; }
    var sa = sel("compare-a", "A", s.variants, a), sb = sel("compare-b", "B", s.variants, b);
    var sr = sel("compare-run-b", "B from run", runs.map(function(r){ return r.run_id; }), runB);
    var go = function(){ location.href = "/runs/" + enc(runId) + "/compare?task=" + enc(task) + "&a=" + enc(sa.value) + "&b=" + enc(sb.value) +
      "&epoch=" + enc(epoch) + (sr.value !== runId ? "&run_b=" + enc(sr.value) : ""); };
    [sa, sb, sr].forEach(function(x){ x.addEventListener("change", go); });
  });
  var query = "task=" + enc(task) + "&a=" + enc(a) + "&b=" + enc(b) + "&epoch=" + enc(epoch) + (runB !== runId ? "&run_b=" + enc(runB) : "");
  api("/api/runs/" + enc(runId) + "/compare?" + query).then(function(pair){
    var labels = runB !== runId ? [runId + " · " + a, runB + " · " + b] : [a, b];
    out.appendChild(T.renderPair(pair, labels));
  }, function(e){ failed(out, e); });
}

/* ---- tasks x variants ------------------------------------------------------------------ */
function matrixPage(runId){
  setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: "matrix"}]);
  var box = clear(main);
  box.appendChild(el("h1", null, "Tasks × variants"));
  var bar = el("div", "controls"); box.appendChild(bar);
  var l = el("label", null, " only tasks where variants differ"), only = el("input"); only.type = "checkbox"; only.id = "only-differ";
  l.insertBefore(only, l.firstChild); bar.appendChild(l);
  var out = el("div"); box.appendChild(out);
  api("/api/runs/" + enc(runId) + "/matrix").then(function(m){
    function draw(){
      clear(out);
      var t = el("table", "matrix"), h = el("tr"); t.id = "matrix";
      ["Task"].concat(m.variants).forEach(function(c){ h.appendChild(el("th", null, c)); }); t.appendChild(h);
      var shown = 0;
      m.tasks.forEach(function(task){
        var statuses = m.variants.map(function(v){ var c = task.cells[v] || []; var pass = c.filter(function(x){ return x.status === "pass"; }).length;
          return !c.length ? "" : c.some(function(x){ return x.status === "error"; }) ? "error" : pass === c.length ? "pass" : "fail"; });
        if(only.checked && statuses.every(function(s){ return s === statuses[0]; })){ return; }
        shown++;
        var tr = el("tr"), name = el("td");
        name.appendChild(m.variants.length > 1 ? link("/runs/" + enc(runId) + "/compare?task=" + enc(task.task) + "&a=" + enc(m.variants[0]) +
          "&b=" + enc(m.variants[1]), task.task) : el("span", null, task.task));
        tr.appendChild(name);
        m.variants.forEach(function(v, i){ var c = task.cells[v] || [], td = el("td", "cell status-" + statuses[i]);
          td.dataset.variant = v; td.dataset.task = task.task;
          if(c.length){ var pass = c.filter(function(x){ return x.status === "pass"; }).length;
            td.appendChild(link("/runs/" + enc(runId) + "/rows/" + c[0].line, c.length > 1 ? pass + "/" + c.length : statuses[i])); }
          tr.appendChild(td); });
        t.appendChild(tr);
      });
      out.appendChild(el("p", "note", shown + " of " + m.tasks.length + " tasks · a cell opens the transcript, a task opens the first two variants side by side"));
      out.appendChild(t);
    }
    only.addEventListener("change", draw); draw();
  }, function(e){ failed(out, e); });
}

/* ---- routing --------------------------------------------------------------------------- */
// traces.js draws the production traces' pages with these helpers (and the same transcript script).
var V = {main: main, api: api, enc: enc, link: link, clear: clear, setCrumbs: setCrumbs, table: table, failed: failed,
         num: num, transcriptSearch: transcriptSearch,
         preview: function(text){ var d = el("div", "clip", text || "–"); if(text){ d.title = text; } return d; }};
var path = location.pathname, m;
stopTimers();
if(path === "/" || path === ""){ home(); }
else if(path === "/traces"){ window.HarnessTraces.list(V); }
else if((m = path.match(/^\/traces\/([^\/]+)$/))){ window.HarnessTraces.one(V, decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)\/rows\/(\d+)$/))){ taskPage(decodeURIComponent(m[1]), m[2]); }
else if((m = path.match(/^\/runs\/([^\/]+)\/compare$/))){ comparePage(decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)\/matrix$/))){ matrixPage(decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)\/prompts$/))){ promptsPage(decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)$/))){ runPage(decodeURIComponent(m[1])); }
else { main.textContent = "No such page."; }
})();
