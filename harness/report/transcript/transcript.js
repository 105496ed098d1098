/* Draws a transcript (harness.report.transcript.row_transcript) and a side-by-side pair
 * (harness.report.transcript.transcript_pair). Shared by the static HTML report and `harness view`.
 * Text goes in with textContent only: a model's output is never parsed as HTML. */
(function(root){
"use strict";
/* Trajectories up to this many spans are drawn with every call open, like a chat. */
var OPEN_SPANS=80;
function el(tag, cls, text){var e=document.createElement(tag); if(cls){e.className=cls;}
  if(text!==undefined&&text!==null){e.textContent=String(text);} return e;}
function show(v){if(v===null||v===undefined){return "";} return typeof v==="string"?v:JSON.stringify(v,null,2);}
function pre(v, cls){var p=el("pre",cls); p.textContent=show(v)||"–"; return p;}
function section(box, title, node){var h=el("h4",null,title); box.appendChild(h); box.appendChild(node); return node;}
function secs(v){return v===null||v===undefined?"":Number(v).toFixed(3)+" s";}
function money(v, unpriced){if(unpriced){return "price unknown";} if(v===null||v===undefined){return "price unknown";}
  return "$"+Number(v).toFixed(5);}
function badge(verdict){return el("span","verdict status-"+verdict, verdict);}
function parsed(v){if(typeof v!=="string"){return v;} try{return JSON.parse(v);}catch(e){return v;}}

function duration(node){
  if(node.dur_source==="unknown"){return el("span","dur unknown","time not recorded");}
  if(node.dur_source==="calls"){var c=el("span","dur","≥ "+secs(node.dur));
    c.title="its recorded model calls took this long (the span's own time was not recorded)"; return c;}
  var d=el("span","dur",secs(node.dur)); if(node.dur_source==="recorded"){d.title="as recorded";} return d;
}
/* A request item as a chat turn: Chat Completions messages as they are, Responses API items
 * (function_call, function_call_output, message with content parts) as the tool call, the tool
 * result and the message they are. */
function textOf(content){
  if(!Array.isArray(content)){return content;}
  var texts=content.map(function(p){return p&&typeof p==="object"&&typeof p.text==="string"?p.text:null;});
  return texts.every(function(t){return t!==null;})?texts.join("\n"):content;
}
function turn(m){
  if(!m||typeof m!=="object"){return {role:"item", content:m};}
  if(m.type==="function_call"){return {role:"assistant", label:"tool call", calls:[{name:m.name, arguments:m.arguments}],
    id:m.call_id};}
  if(m.type==="function_call_output"){return {role:"tool", label:"tool result", content:m.output, ref:m.call_id};}
  if(m.role){return {role:m.role, content:textOf(m.content), ref:m.tool_call_id,
    calls:(m.tool_calls||[]).map(function(c){var f=c["function"]||c; return {name:f.name, arguments:f.arguments};})};}
  if(m.type==="reasoning"){return {role:"reasoning", content:textOf(m.summary)};}
  return {role:m.type||"item", content:m};
}
function messageList(messages){
  var list=el("ol","messages");
  messages.forEach(function(m){
    var t=turn(m), li=el("li","message role-"+String(t.role).replace(/[^a-z]/gi,""));
    li.appendChild(el("span","role",t.label?t.role+" · "+t.label:t.role));
    if(t.ref){li.appendChild(el("span","note"," (result of "+t.ref+")"));}
    if(t.content!==null&&t.content!==undefined&&t.content!==""){li.appendChild(pre(t.content,"content"));}
    if(t.calls&&t.calls.length){li.appendChild(pre(t.calls.map(function(c){
      return (c.name||"?")+"("+show(parsed(c.arguments))+")";}).join("\n"),"tool-calls"));}
    list.appendChild(li);
  });
  return list;
}
function modelBody(d, box){
  var facts=[d.model];
  if(d.input_tokens!==null&&d.input_tokens!==undefined){facts.push("in "+d.input_tokens+" / out "+d.output_tokens+" tokens");}
  facts.push(money(d.cost_usd, d.cost_usd===null||d.cost_usd===undefined));
  if(d.finish_reason){facts.push("finish: "+d.finish_reason);}
  if(d.retries){facts.push(d.retries+" retries");}
  Object.keys(d.settings||{}).forEach(function(k){facts.push(k+"="+d.settings[k]);});
  box.appendChild(el("p","facts",facts.join(" · ")));
  if(d.tools&&d.tools.length){box.appendChild(el("p","facts","tools offered: "+d.tools.join(", ")));}
  if(Array.isArray(d.messages)){section(box,"Request messages ("+d.messages.length+")",messageList(d.messages));}
  else if(typeof d.messages==="string"){section(box,"Request messages",pre(d.messages,"messages"));}
  else if(d.last_message){section(box,"Last request message (of "+d.messages_count+"; older rows keep only the last)",
    messageList([d.last_message]));}
  section(box,"Output",pre(d.output,"model-output"));
  if(d.tool_calls&&d.tool_calls.length){section(box,"Tool calls requested",pre(d.tool_calls.map(function(c){
    return c.name+"("+show(parsed(c.arguments))+")";}).join("\n"),"tool-calls"));}
}
function spanBody(node){
  var box=el("div","span-body"), d=node.detail||{};
  if(node.error){box.appendChild(pre("error: "+node.error,"error"));}
  if(node.kind==="model"){modelBody(d, box);}
  else if(node.kind==="tool"){section(box,"Arguments",pre(parsed(d.arguments),"tool-args"));
    section(box,"Result",pre(parsed(d.result),"tool-result"));}
  else if(node.kind==="agent"){box.appendChild(el("p","facts","tools: "+((d.tools||[]).join(", ")||"none")+
    " · handoffs: "+((d.handoffs||[]).join(", ")||"none")+(d.output_type?" · output: "+d.output_type:"")));}
  else if(node.kind==="handoff"){box.appendChild(el("p","facts",d.from_agent+" → "+d.to_agent));}
  else if(node.kind==="guardrail"){box.appendChild(el("p","facts",guardWord(d)));
    if(d.reason!==null&&d.reason!==undefined){section(box,"Why",pre(d.reason,"guard-reason"));}
    if(d.blocked_output!==null&&d.blocked_output!==undefined){section(box,"Output it blocked",pre(d.blocked_output,"guard-blocked"));}
    if(Object.keys(d.attributes||{}).length){box.appendChild(pre(d.attributes,"attributes"));}}
  else if(d.attributes&&Object.keys(d.attributes).length){box.appendChild(pre(d.attributes,"attributes"));}
  return box;
}
function guardWord(d){return d.triggered===true?"tripwire triggered: the run was stopped here":
  d.triggered===false?"passed":"outcome not recorded";}
function spanNode(node, opts){
  var det=el("details","span span-"+node.kind+(node.error?" span-error":""));
  det.dataset.spanId=node.id; det.dataset.kind=node.kind;
  var sum=el("summary"); sum.title=node.id;
  sum.appendChild(el("span","kind",node.kind)); sum.appendChild(el("span","title",node.title));
  if(node.strand){sum.appendChild(el("span","strand","strand "+node.strand));}
  if(node.kind==="guardrail"){sum.appendChild(el("span","verdict "+(node.detail.triggered?"status-fail":"status-pass"),
    node.detail.triggered?"triggered":node.detail.triggered===false?"passed":"?"));}
  if(node.kind==="tool"){sum.appendChild(el("code","args-inline",show(parsed(node.detail.arguments)).slice(0,120)));}
  if(node.kind==="model"&&node.detail&&node.detail.output){sum.appendChild(el("span","preview",
    String(show(node.detail.output)).slice(0,100)));}
  if(node.error){sum.appendChild(el("span","verdict status-error","error"));}
  sum.appendChild(duration(node));
  det.appendChild(sum);
  var filled=false;
  var fill=function(){if(filled){return;} filled=true; det.appendChild(spanBody(node));
    if(node.children.length){var kids=el("div","children"); node.children.forEach(function(c){kids.appendChild(spanNode(c, opts));});
      det.appendChild(kids);}};
  // Containers start open so the nesting shows; the conversation (model and tool calls) too,
  // unless the trajectory is too long to draw at once: then a call opens on click.
  if(node.kind==="agent"||node.children.length||(opts&&opts.open)){fill(); det.open=true;}
  det.addEventListener("toggle",fill);
  return det;
}
function scoresTable(scores){
  var t=el("table","scores"), h=el("tr");
  ["Metric","Grader","Value","Verdict","Reason / rationale"].forEach(function(c){h.appendChild(el("th",null,c));});
  t.appendChild(h);
  scores.forEach(function(s){var tr=el("tr","score");
    tr.appendChild(el("td",null,s.name)); tr.appendChild(el("td","grader",s.grader));
    tr.appendChild(el("td","num",s.value===null||s.value===undefined?"–":Number(s.value).toFixed(3)));
    var v=el("td"); v.appendChild(badge(s.verdict)); tr.appendChild(v);
    var r=el("td","reason"); r.appendChild(el("div",null,s.error?("grader error: "+s.error):(s.reason||"–")));
    if(s.judge){r.appendChild(el("div","note","judge "+s.judge));}
    if(s.metadata){var md=el("details","metadata"); md.appendChild(el("summary",null,"metadata")); md.appendChild(pre(s.metadata));
      r.appendChild(md);}
    tr.appendChild(r); t.appendChild(tr);});
  return t;
}
function feedbackTable(given){
  if(!given.length){return el("p","note","no feedback was given on this trace");}
  var t=el("table","feedback"), h=el("tr");
  ["Score","Comment","Given at (UTC)"].forEach(function(c){h.appendChild(el("th",null,c));}); t.appendChild(h);
  given.forEach(function(f){var tr=el("tr","feedback-row");
    tr.appendChild(el("td","num",f.score===null||f.score===undefined?"–":String(f.score)));
    tr.appendChild(el("td","comment",f.comment||"–"));
    tr.appendChild(el("td",null,String(f.at||"").replace("T"," ").slice(0,19))); t.appendChild(tr);});
  return t;
}
function missDiff(text){
  var p=el("pre","miss"); String(text).split("\n").forEach(function(line){
    var t=line.replace(/^\s+/,""), cls=t.indexOf("-")===0?"del":t.indexOf("+")===0?"add":t.indexOf("~")===0?"chg":"";
    var s=el("span",cls,line+"\n"); p.appendChild(s);}); return p;
}
function header(t){
  var p=el("p","facts");
  p.appendChild(badge(t.status));
  var where=t.kind==="trace"?" trace "+t.trace_id+" · "+(t.workflow||"–")+" · started "+String(t.started_at||"").replace("T"," ").slice(0,19)+" UTC · ":
    " "+t.variant+" · task "+t.task+" · epoch "+t.epoch+" · ";
  p.appendChild(document.createTextNode(where+
    (t.latency===null?"–":Number(t.latency).toFixed(2)+" s")+(t.replayed?" (recorded)":"")+" · "+t.calls+" model calls · "+
    t.tokens+" tokens · "+money(t.cost, t.unpriced_calls>0)+(t.agents.length?" · "+t.agents.join(" → "):"")));
  return p;
}
function chat(c){
  // A conversation as chat: the customer's message, then the agent's reply with its steps of that turn.
  var box=el("div","chat");
  c.turns.forEach(function(turn){
    var u=el("div","bubble chat-user"); u.appendChild(el("span","role","customer · turn "+turn.n));
    u.appendChild(pre(turn.user,"content")); box.appendChild(u);
    var a=el("div","bubble chat-agent"+(turn.error?" span-error":"")); a.appendChild(el("span","role","agent"));
    a.appendChild(pre(turn.error?("error: "+turn.error):turn.reply,"content"));
    if(turn.steps&&turn.steps.length){var steps=el("details","turn-steps");
      steps.appendChild(el("summary",null,turn.steps.length+" step"+(turn.steps.length>1?"s":"")+" (agents, handoffs, tools)"));
      var tree=el("div","trajectory"); turn.steps.forEach(function(n){tree.appendChild(spanNode(n));});
      steps.appendChild(tree); a.appendChild(steps);}
    box.appendChild(a);
  });
  if(c.closing){var last=el("div","bubble chat-user"); last.appendChild(el("span","role","customer"));
    last.appendChild(pre(c.closing,"content")); box.appendChild(last);}
  if(c.ended){box.appendChild(el("p","note","ended: "+c.ended));}
  return box;
}
function render(t, opts){
  opts=opts||{};
  var box=el("div","transcript"); box.dataset.task=t.task; box.dataset.variant=t.variant;
  if(!opts.noHeader){box.appendChild(header(t));}
  section(box,"Input",pre(t.input,"input"));
  if(t.expected!==null&&t.expected!==undefined){section(box,"Expected",pre(t.expected,"expected"));}
  if(t.conversation){section(box,"Conversation ("+t.conversation.turns.length+" turns)",chat(t.conversation));}
  else{section(box,"Output",pre(t.output,"output"));}
  if(t.error){
    var e=t.error, title=e.kind==="cassette_miss"?"Cassette miss":e.kind==="production"?"Error (in production)":"Task error ("+e.kind+")";
    section(box,title,e.kind==="cassette_miss"?missDiff(e.message):pre(e.type+": "+e.message,"error"));
    if(e.traceback){var tb=el("details"); tb.appendChild(el("summary",null,"traceback")); tb.appendChild(pre(e.traceback));
      box.appendChild(tb);}
  }
  // A production trace has no graders yet; it has the customers' feedback instead.
  if(t.feedback){section(box,"Feedback"+(t.feedback.length?" ("+t.feedback.length+")":""),feedbackTable(t.feedback));}
  if(t.scores){section(box,"Graders",scoresTable(t.scores));}
  var tree=el("div","trajectory");
  var open={open:(t.spans_shown||0)<=OPEN_SPANS};
  t.spans.forEach(function(n){tree.appendChild(spanNode(n, open));});
  section(box,"Transcript"+(t.spans_total?" ("+t.spans_total+" spans)":""),tree);
  if(!t.spans_total){tree.appendChild(el("p","note","no spans were recorded"));}
  if(t.spans_total>t.spans_shown){box.appendChild(el("p","note","showing "+t.spans_shown+" of "+t.spans_total+" spans"));}
  if(t.state){section(box,"End state",pre(t.state,"state"));}
  return box;
}
function diffView(diff){
  var p=el("pre","diff");
  if(!diff.length){p.textContent="(both outputs are empty)";}
  diff.forEach(function(d){p.appendChild(el("span",d[0]==="-"?"del":d[0]==="+"?"add":"same",(d[0]==="="?"  ":d[0]+" ")+d[1]+"\n"));});
  return p;
}
function renderPair(pair, labels){
  labels=labels||[pair.a.variant, pair.b.variant];
  var box=el("div","pair");
  var heads=el("div","pair-cols");
  [pair.a,pair.b].forEach(function(t,i){var c=el("div","pair-col"); c.appendChild(el("h3",null,labels[i])); c.appendChild(header(t));
    heads.appendChild(c);});
  box.appendChild(heads);
  section(box,"Output diff ("+labels[0]+" → "+labels[1]+")",diffView(pair.diff));
  var g=el("table","pair-graders"), h=el("tr");
  ["Metric",labels[0],"",labels[1],""].forEach(function(c){h.appendChild(el("th",null,c));}); g.appendChild(h);
  pair.graders.forEach(function(row){var tr=el("tr");
    tr.appendChild(el("td",null,row.name));
    [row.a,row.b].forEach(function(s){var v=el("td"); if(s){v.appendChild(badge(s.verdict));
        v.appendChild(document.createTextNode(" "+(s.value===null?"":Number(s.value).toFixed(2))));}
      tr.appendChild(v); tr.appendChild(el("td","reason",s?(s.error||s.reason):"not graded"));});
    g.appendChild(tr);});
  section(box,"Graders",g);
  var st=el("table","pair-steps"), hh=el("tr");
  [labels[0],labels[1]].forEach(function(c){hh.appendChild(el("th",null,c));}); st.appendChild(hh);
  pair.steps.forEach(function(row){var tr=el("tr",row[0]&&row[1]?"same":"differs");
    row.forEach(function(s){var td=el("td",s?"step step-"+s.kind:"gap"); if(s){td.style.paddingLeft=(8+s.depth*16)+"px";
      td.textContent=s.title+(s.error?"  ✗ "+s.error:"");} tr.appendChild(td);});
    st.appendChild(tr);});
  section(box,"Trajectories, aligned",st);
  var full=el("div","pair-cols");
  [pair.a,pair.b].forEach(function(t){var c=el("div","pair-col"); c.appendChild(render(t,{noHeader:true})); full.appendChild(c);});
  section(box,"Full transcripts",full);
  return box;
}
root.HarnessTranscript={render:render, feedbackTable:feedbackTable, chat:chat, renderPair:renderPair, diffView:diffView, el:el, pre:pre};
})(window);
