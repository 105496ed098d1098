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
  return i.low === null || i.low === undefined ? num(i.estimate, 2) : num(i.estimate, 2) + " [" + num(i.low, 2) + ", " + num(i.high, 2) + "]"; }
function headline(summary){
  if(!summary){ return "–"; }
  var parts = summary.leaderboard.filter(function(r){ return r.metric === "pass_rate"; })
    .map(function(r){ return r.variant + " " + num(r.mean.estimate, 2); });
  return parts.join(" · ") || "–";
}
function gateText(a){
  if(!a){ return el("span", "note", "…"); }
  if(a.gates_error){ return el("span", "gate-error", "error: " + a.gates_error); }
  var g = a.gates; if(!g){ return el("span", "note", a.error || "–"); }
  if(!g.results.length && !g.problems.length){ return el("span", "note", "no gates"); }
  var failedN = g.results.filter(function(r){ return r.status !== "pass"; }).length;
  return g.exit_code === 0 ? el("span", "gate-pass", "pass (" + g.results.length + ")")
    : el("span", "gate-fail", "fail: exit " + g.exit_code + (failedN ? " · " + failedN + " of " + g.results.length + " gates" : ""));
}
function progress(state){
  var box = el("div", "run-progress");
  var text = state.rows + (state.expected_rows ? " of " + state.expected_rows : "") + " rows";
  box.appendChild(el("span", "progress-text", text));
  if(state.expected_rows){ var bar = el("div", "progress"), fill = el("div");
    fill.style.width = Math.min(100, 100 * state.rows / state.expected_rows) + "%"; bar.appendChild(fill); box.appendChild(bar); }
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
function fillSummary(runId, a){
  [].forEach.call(document.querySelectorAll('[data-headline="' + runId + '"]'), function(cell){
    cell.textContent = a.error && !a.summary ? a.error : headline(a.summary); });
  [].forEach.call(document.querySelectorAll('[data-gates="' + runId + '"]'), function(cell){
    clear(cell).appendChild(gateText(a)); });
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
    if(!data.runs.length){ list.appendChild(el("p", "note", "No runs here yet: harness run evals/test_<suite>.py")); }
    var wanted = select.value, running = false;
    suites.forEach(function(suite){
      if(wanted && suite !== wanted){ return; }
      var runs = data.runs.filter(function(r){ return r.suite === suite; });
      var sec = el("section", "suite"); sec.dataset.suite = suite;
      sec.appendChild(el("h2", null, suite + " (" + runs.length + " run" + (runs.length === 1 ? "" : "s") + ")"));
      var rows = runs.map(function(r){
        running = running || r.status === "running";
        var head = el("span", "headline", "…"), gates = el("span", "gates", "…");
        head.dataset.headline = r.run_id; gates.dataset.gates = r.run_id;
        loadSummary(r.run_id, r.rows).then(function(a){ fillSummary(r.run_id, a); });
        var st = statusText(r.status); if(r.problems && r.problems.length){ st.title = r.problems.join("\n"); }
        return [link("/runs/" + enc(r.run_id), r.run_id, "run-link"), st, (r.created_at || "").replace("T", " ").slice(0, 19),
                (r.variants || []).join(", "), progress(r), head, gates];
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
function summaryTables(box, a){
  clear(box);
  if(a.error && !a.summary){ box.appendChild(el("p", "note", a.error)); return; }
  var s = a.summary, g = a.gates;
  var gsec = el("section"); gsec.id = "gates"; box.appendChild(gsec);
  gsec.appendChild(el("h2", null, "Gates")); gsec.lastChild.appendChild(document.createTextNode(" — ")); gsec.lastChild.appendChild(gateText(a));
  if(g){
    gsec.appendChild(table(["Result", "Gate", "Variant", "Value", "95% CI", "Threshold / baseline", "Why"], g.results.map(function(r){
      return [el("span", "gate-" + r.status, r.status.toUpperCase()), r.gate, r.variant || "all", num(r.value), interval(r.ci),
              r.op ? r.op + " " + r.threshold : (r.baseline || ""), r.status === "pass" ? "" : r.message]; })));
    g.problems.forEach(function(p){ gsec.appendChild(el("p", "problems", p)); });
  }
  var lsec = el("section"); lsec.id = "leaderboard"; box.appendChild(lsec);
  lsec.appendChild(el("h2", null, "Leaderboard"));
  lsec.appendChild(el("p", "note", "Per-task means (epochs averaged first), 95% intervals. Attempts with task errors are " +
    "excluded from each metric and counted, except in success_rate, which counts them as failures."));
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
    csec.appendChild(el("p", "note", "Paired over every task both were run on, errors counted as failures. Verdicts use " + s.correction + "."));
    csec.appendChild(table(["Candidate", "Metric", "Baseline", "Base", "Cand.", "Δ", "95% CI", "p (adj.)", "Verdict", "Tasks"], s.comparisons.map(function(c){
      var r = c.result; return [c.candidate, c.metric, c.baseline, num(r.baseline_mean), num(r.candidate_mean),
        r.diff === null ? "–" : (r.diff >= 0 ? "+" : "") + num(r.diff), interval(r.ci), num(r.p_adjusted, 4), el("b", null, r.label), r.n]; })));
  }
  var usec = el("section"); usec.id = "usage"; box.appendChild(usec);
  usec.appendChild(el("h2", null, "Cost, tokens and latency per task"));
  usec.appendChild(table(["Variant", "Attempts", "Cost mean", "Tokens mean", "Latency p50 (s)", "p95", "Task errors"], s.variants.map(function(v){
    return [v.variant, v.attempts, v.unpriced_calls ? "price unknown" : money(v.cost_usd.mean), num(v.tokens.mean, 0),
            num(v.latency_s.p50, 2), num(v.latency_s.p95, 2), v.task_errors]; })));
  (s.notes || []).forEach(function(n){ box.appendChild(el("p", "note", n)); });
}

function runPage(runId){
  setCrumbs([{text: runId}]);
  var box = clear(main);
  var title = el("h1", null, runId); box.appendChild(title);
  var meta = el("div", "meta"); box.appendChild(meta);
  var nav = el("p", "controls"); box.appendChild(nav);
  nav.appendChild(link("/runs/" + enc(runId) + "/matrix", "Tasks × variants matrix", "matrix-link"));
  var summaryBox = el("div"); summaryBox.id = "summary"; box.appendChild(summaryBox);
  var explorer = el("section"); explorer.id = "explorer"; box.appendChild(explorer);
  explorer.appendChild(el("h2", null, "Results"));
  var state = {variant: "", grader: "", status: "", tag: "", q: "", sort: "", desc: false, offset: 0, limit: 50};
  var q = new URLSearchParams(location.search);
  Object.keys(state).forEach(function(k){ if(q.has(k)){ state[k] = k === "offset" || k === "limit" ? parseInt(q.get(k), 10) || state[k]
    : k === "desc" ? q.get(k) === "1" : q.get(k); } });
  var controls = el("div", "controls"); explorer.appendChild(controls);
  function control(label, id, options){
    var l = el("label", null, label + " "), s = el("select"); s.id = id; l.appendChild(s); controls.appendChild(l);
    options.forEach(function(o){ var opt = el("option", null, o[1]); opt.value = o[0]; s.appendChild(opt); }); return s;
  }
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
    return [["task", "Task"], ["variant", "Variant"], ["epoch", "Epoch"], ["status", "Status"]]
      .concat(scoreNames.map(function(n){ return ["score:" + n, n]; }))
      .concat([["latency", "Latency (s)"], ["cost", "Cost (USD)"], ["tokens", "Tokens"]]);
  }
  function queryString(){
    var p = new URLSearchParams();
    Object.keys(state).forEach(function(k){ var v = state[k];
      if(v !== "" && v !== false && !(k === "offset" && v === 0) && !(k === "limit" && v === 50)){ p.set(k, v === true ? "1" : v); } });
    return p.toString();
  }
  function drawRows(page){
    clear(results);
    var head = el("tr");
    columns().forEach(function(c){ var th = el("th", null, c[1]); th.dataset.key = c[0];
      if(state.sort === c[0]){ th.className = state.desc ? "sorted-desc" : "sorted-asc"; }
      th.addEventListener("click", function(){ if(state.sort === c[0]){ state.desc = !state.desc; } else { state.sort = c[0]; state.desc = false; }
        state.offset = 0; loadRows(); });
      head.appendChild(th); });
    results.appendChild(head);
    page.rows.forEach(function(r){
      var tr = el("tr", "row status-row-" + r.status); tr.dataset.line = r.line; tr.dataset.task = r.task; tr.dataset.variant = r.variant;
      tr.dataset.status = r.status; tr.tabIndex = 0;
      columns().forEach(function(c){ var k = c[0], td;
        if(k.indexOf("score:") === 0){ var s = r.scores[k.slice(6)];
          td = el("td", "num" + (s ? " status-" + s.verdict : ""), s ? (s.value === null ? s.verdict : num(s.value, 2)) : ""); }
        else if(k === "status"){ td = el("td", "status-" + r.status, r.status); }
        else if(k === "latency"){ td = el("td", "num", num(r.latency, 2)); }
        else if(k === "cost"){ td = el("td", "num", r.cost === null ? "price unknown" : Number(r.cost).toFixed(5)); }
        else if(k === "task"){ td = el("td"); td.appendChild(link("/runs/" + enc(runId) + "/rows/" + r.line, r.task)); }
        else { td = el("td", k === "epoch" || k === "tokens" ? "num" : "", r[k]); }
        tr.appendChild(td); });
      var open = function(){ location.href = "/runs/" + enc(runId) + "/rows/" + r.line; };
      tr.addEventListener("click", function(e){ if(e.target.tagName !== "A"){ open(); } });
      tr.addEventListener("keydown", function(e){ if(e.key === "Enter"){ open(); } });
      results.appendChild(tr);
    });
    var first = page.matched ? page.offset + 1 : 0, last = page.offset + page.rows.length;
    count.textContent = page.matched + " of " + page.total_rows + " rows match" + (page.matched ? " · showing " + first + "–" + last : "");
    var pages = Math.max(1, Math.ceil(page.matched / state.limit));
    pageText.textContent = "page " + (Math.floor(page.offset / state.limit) + 1) + " of " + pages;
    prev.disabled = page.offset === 0; next.disabled = last >= page.matched;
  }
  function loadRows(){
    history.replaceState(null, "", "/runs/" + enc(runId) + (queryString() ? "?" + queryString() : ""));
    var ticket = ++pending;
    return api("/api/runs/" + enc(runId) + "/rows?" + queryString()).then(function(page){ if(ticket === pending){ drawRows(page); } },
      function(e){ count.textContent = "Could not load rows: " + e.message; });
  }
  function bind(node, key, transform){
    var update = function(){ var v = transform ? transform(node.value) : node.value; if(v === state[key]){ return; }
      state[key] = v; state.offset = 0; loadRows(); };
    node.addEventListener("change", update); node.addEventListener("input", update);
  }
  function fill(select, values){ values.forEach(function(v){ if(![].some.call(select.options, function(o){ return o.value === v; })){
    var o = el("option", null, v); o.value = v; select.appendChild(o); } }); }
  bind(fVariant, "variant"); bind(fGrader, "grader"); bind(fStatus, "status"); bind(fTag, "tag");
  bind(search, "q", function(v){ return v.trim(); });
  prev.addEventListener("click", function(){ state.offset = Math.max(0, state.offset - state.limit); loadRows(); });
  next.addEventListener("click", function(){ state.offset += state.limit; loadRows(); });

  function drawState(s){
    runState = s;
    clear(meta);
    meta.appendChild(el("span", null, s.suite + " · ")); meta.appendChild(statusText(s.status));
    meta.appendChild(el("span", null, " · started " + (s.created_at || "").replace("T", " ").slice(0, 19) + " UTC · variants " +
      s.variants.join(", ") + (s.baseline ? " · baseline " + s.baseline : "")));
    meta.appendChild(progress(s));
    s.problems.forEach(function(p){ meta.appendChild(el("p", "problems", p)); });
    fill(fVariant, s.variants);
    liveBadge.hidden = s.status !== "running"; liveBadge.textContent = "● live: " + s.rows + " rows";
  }
  function loadFacets(){
    return api("/api/runs/" + enc(runId) + "/facets").then(function(f){
      var changed = f.scores.length !== scoreNames.length; scoreNames = f.scores;
      fill(fVariant, f.variants); fill(fGrader, f.scores); fill(fTag, f.tags);
      [["variant", fVariant], ["grader", fGrader], ["status", fStatus], ["tag", fTag]].forEach(function(p){ p[1].value = state[p[0]]; });
      search.value = state.q; return changed; });
  }
  function loadSummary(){ return api("/api/runs/" + enc(runId) + "/summary").then(function(a){ summaryTables(summaryBox, a); },
    function(e){ failed(clear(summaryBox), e); }); }
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
function taskPage(runId, line){
  setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: "row " + line}]);
  var box = clear(main);
  api("/api/runs/" + enc(runId) + "/rows/" + line).then(function(t){
    setCrumbs([{text: runId, href: "/runs/" + enc(runId)}, {text: t.task + " · " + t.variant + (t.epoch > 1 ? " · epoch " + t.epoch : "")}]);
    box.appendChild(el("h1", null, "Task " + t.task + " — " + t.variant));
    var bar = el("div", "controls"); box.appendChild(bar);
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
    box.appendChild(T.render(t));
  }, function(e){ failed(box, e); });
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
var path = location.pathname, m;
stopTimers();
if(path === "/" || path === ""){ home(); }
else if((m = path.match(/^\/runs\/([^\/]+)\/rows\/(\d+)$/))){ taskPage(decodeURIComponent(m[1]), m[2]); }
else if((m = path.match(/^\/runs\/([^\/]+)\/compare$/))){ comparePage(decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)\/matrix$/))){ matrixPage(decodeURIComponent(m[1])); }
else if((m = path.match(/^\/runs\/([^\/]+)$/))){ runPage(decodeURIComponent(m[1])); }
else { main.textContent = "No such page."; }
})();
