/* harness view: production traces (a capture folder). The list is filtered by the server with the
 * filters of `harness traces list`; a trace is drawn by the run viewer's own transcript script
 * (HarnessTranscript.render). Text goes in with textContent. app.js calls these with its helpers. */
(function(root){
"use strict";
var T = root.HarnessTranscript, el = T.el;
var FILTERS = ["errors", "guardrail_tripped", "feedback_below", "latency_above", "agent", "tool", "text"];

function outcome(t){
  var box = el("div");
  box.appendChild(el("span", t.error ? "status-error" : "status-pass", t.error ? "error" : "ok"));
  if(t.error){ box.appendChild(el("div", "clip note", t.error)); }
  t.guardrails_tripped.forEach(function(g){ box.appendChild(el("div", "status-fail", "guardrail " + g + " tripped")); });
  return box;
}
function feedback(t){
  var box = el("div");
  if(t.score === null || t.score === undefined){ box.appendChild(el("span", "note", "–")); return box; }
  box.appendChild(el("b", t.score < 0.5 ? "status-fail" : "status-pass", String(t.score)));
  if(t.comment){ box.appendChild(el("div", "clip note", t.comment)); }
  return box;
}

function list(V){
  V.setCrumbs([{text: "traces"}]);
  var box = V.clear(V.main);
  box.appendChild(el("h1", null, "Production traces"));
  var where = el("p", "note"); where.id = "trace-folder"; box.appendChild(where);
  var q = new URLSearchParams(location.search), state = {offset: parseInt(q.get("offset"), 10) || 0, limit: 50};
  FILTERS.forEach(function(k){ state[k] = q.get(k) || ""; });
  var controls = el("div", "controls"); box.appendChild(controls);
  function input(label, key, type, attrs){
    var l = el("label", null, label + " "), x = el("input"); x.type = type; x.id = "trace-" + key.replace(/_/g, "-");
    Object.keys(attrs || {}).forEach(function(a){ x.setAttribute(a, attrs[a]); });
    if(type === "checkbox"){ x.checked = state[key] === "1"; l.insertBefore(x, l.firstChild); } else { x.value = state[key]; l.appendChild(x); }
    controls.appendChild(l);
    var update = function(){ var v = type === "checkbox" ? (x.checked ? "1" : "") : x.value.trim();
      if(v === state[key]){ return; } state[key] = v; state.offset = 0; load(); };
    x.addEventListener("change", update); x.addEventListener("input", update); return x;
  }
  function choice(label, key){
    var l = el("label", null, label + " "), s = el("select"); s.id = "trace-" + key;
    s.appendChild(el("option", null, "any")).value = ""; l.appendChild(s); controls.appendChild(l);
    s.addEventListener("change", function(){ state[key] = s.value; state.offset = 0; load(); }); return s;
  }
  input("errors", "errors", "checkbox"); input("guardrail tripped", "guardrail_tripped", "checkbox");
  input("Feedback below", "feedback_below", "number", {step: "any", placeholder: "0.5"});
  input("Latency above (s)", "latency_above", "number", {step: "any", min: "0"});
  var agent = choice("Agent", "agent"), tool = choice("Tool", "tool");
  input("Text", "text", "search", {placeholder: "input, output, comment, span…"});
  var count = el("p"); count.id = "trace-count"; count.setAttribute("aria-live", "polite"); box.appendChild(count);
  var out = el("div"); box.appendChild(out);
  var pager = el("div", "pager"), prev = el("button", null, "‹ previous"), next = el("button", null, "next ›");
  prev.id = "traces-prev"; next.id = "traces-next"; pager.appendChild(prev); pager.appendChild(next); box.appendChild(pager);
  prev.addEventListener("click", function(){ state.offset = Math.max(0, state.offset - state.limit); load(); });
  next.addEventListener("click", function(){ state.offset += state.limit; load(); });
  function fill(select, values, current){
    values.forEach(function(v){ if(![].some.call(select.options, function(o){ return o.value === v; })){
      var o = el("option", null, v); o.value = v; select.appendChild(o); } });
    select.value = current;
  }
  function query(){
    var p = new URLSearchParams();
    FILTERS.forEach(function(k){ if(state[k] !== ""){ p.set(k, state[k]); } });
    if(state.offset){ p.set("offset", state.offset); }
    return p.toString();
  }
  var pending = 0;
  function load(){
    var shown = query(), ticket = ++pending;
    history.replaceState(null, "", "/traces" + (shown ? "?" + shown : ""));
    V.api("/api/traces?" + shown + (shown ? "&" : "") + "limit=" + state.limit).then(function(d){
      if(ticket !== pending){ return; }
      where.textContent = d.total + " traces in " + d.folder;
      fill(agent, d.agents, state.agent); fill(tool, d.tools, state.tool);
      var first = d.matched ? d.offset + 1 : 0;
      count.textContent = d.matched + " of " + d.total + " traces match" + (d.matched ? " · showing " + first + "–" + (d.offset + d.traces.length) : "");
      prev.disabled = d.offset === 0; next.disabled = d.offset + d.traces.length >= d.matched;
      var rows = d.traces.map(function(t){
        return [V.link("/traces/" + V.enc(t.trace_id), t.trace_id, "trace-link"), String(t.started_at).replace("T", " ").slice(0, 19),
                t.agents.join(" → ") || "–", t.tools.join(", ") || "–", V.num(t.latency_s, 2), outcome(t), feedback(t),
                V.preview(t.input), V.preview(t.output)];
      });
      var table = V.table(["Trace", "Started (UTC)", "Agents", "Tools", "Latency (s)", "Outcome", "Feedback", "Input", "Output"], rows, "traces");
      table.id = "traces";
      V.clear(out).appendChild(table);
    }, function(e){ if(ticket === pending){ V.clear(out); count.textContent = "Could not load traces: " + e.message; } });
  }
  load();
}

function one(V, traceId){
  V.setCrumbs([{text: "traces", href: "/traces"}, {text: traceId}]);
  var box = V.clear(V.main);
  box.appendChild(el("h1", null, "Trace " + traceId));
  V.api("/api/traces/" + V.enc(traceId)).then(function(t){
    var facts = el("p", "note"); facts.id = "trace-facts";
    facts.textContent = (t.source === "otlp" ? "imported from OTLP" : "captured from the Agents SDK") + " · " + t.exchanges +
      " model exchange(s) kept · found at " + t.link;
    box.appendChild(facts);
    if(t.metadata && Object.keys(t.metadata).length){ var md = el("details", "metadata"); md.appendChild(el("summary", null, "trace metadata"));
      md.appendChild(T.pre(t.metadata)); box.appendChild(md); }
    var bar = el("div", "controls"); box.appendChild(bar);
    var holder = el("div"); holder.id = "transcript";
    V.transcriptSearch(bar, holder);
    holder.appendChild(T.render(t)); box.appendChild(holder);
  }, function(e){ V.failed(box, e); });
}

root.HarnessTraces = {list: list, one: one};
})(window);
