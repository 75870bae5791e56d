"""The viewer's page: HTML, CSS and script of one self-contained file. ``__TITLE__`` and ``__DATA__``
(the embedded JSON, escaped by the viewer) are filled in by :func:`tinker_explorer.report.viewer.render_page`."""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>__TITLE__</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2329;background:#f4f5f7}
header{background:#1f2d3d;color:#fff;padding:10px 16px}
header h1{font-size:17px;margin:0 0 6px}
#controls{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:center;font-size:13px}
#controls label{display:flex;gap:5px;align-items:center}
#controls select,#controls input[type=search]{font:inherit;padding:2px 4px}
#summary{font-size:12px;opacity:.85;margin-top:6px}
main{display:flex;height:calc(100vh - 96px)}
#episode-list{width:330px;min-width:260px;overflow-y:auto;border-right:1px solid #d6d9de;background:#fff;margin:0;padding:0;list-style:none}
#episode-list li{padding:6px 10px;border-bottom:1px solid #eee;cursor:pointer}
#episode-list li:hover{background:#eef3fb}
#episode-list li.sel{background:#dce8fb}
#episode-list .q{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#episode-list .meta{font-size:11px;color:#5c6670}
#detail{flex:1;overflow-y:auto;padding:14px 18px}
.qbox{background:#fff;border:1px solid #d6d9de;border-radius:6px;padding:10px 14px;margin-bottom:12px}
.qbox h2{font-size:16px;margin:0 0 4px}
.muted{color:#5c6670;font-size:12px}
.cols{display:flex;gap:14px;align-items:flex-start}
.col{flex:1;min-width:0;background:#fff;border:1px solid #d6d9de;border-radius:6px;padding:10px 12px}
.col h3{margin:0 0 6px;font-size:15px}
.ans{padding:6px 8px;border-radius:4px;margin:6px 0}
.ans.ok{background:#e3f5e6;border-left:4px solid #2e8b3e}
.ans.partial{background:#fff4d6;border-left:4px solid #c99a06}
.ans.bad{background:#fbe4e4;border-left:4px solid #c0392b}
table{border-collapse:collapse;width:100%;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid #e3e5e8;padding:3px 5px;text-align:left;vertical-align:top}
th{background:#f0f2f4;font-weight:600}
tr.opened td{background:#eef6ff}
.gold{color:#8a6d00;font-weight:700;white-space:nowrap}
.badge{display:inline-block;padding:0 5px;border-radius:8px;background:#2d6cdf;color:#fff;font-size:11px}
.kind{font-family:ui-monospace,monospace;font-size:12px}
.notes{background:#f7f3e8;border-left:3px solid #b59a4a;padding:4px 8px;margin:4px 0;white-space:pre-wrap}
details{margin:3px 0}
details .txt{white-space:pre-wrap;font-size:12px;background:#fafafa;padding:4px 6px;border:1px solid #eee}
.scores span{margin-right:12px}
.empty{color:#5c6670;padding:20px}
</style></head>
<body>
<header>
<h1>__TITLE__</h1>
<div id="controls">
 <label>Policy <select id="filter-policy"></select></label>
 <label>Question type <select id="filter-type"></select></label>
 <label><input type="checkbox" id="filter-wrong"> wrong answers only (EM = 0)</label>
 <label>Search <input type="search" id="filter-search" placeholder="question or task id"></label>
 <span>Side by side: <select id="cmp-a"></select> vs <select id="cmp-b"></select></span>
</div>
<div id="summary"></div>
</header>
<main>
<ul id="episode-list"></ul>
<section id="detail"><div class="empty">Select an episode on the left.</div></section>
</main>
<script type="application/json" id="te-data">__DATA__</script>
<script>
"use strict";
var D = JSON.parse(document.getElementById("te-data").textContent);
var byTaskPolicy = {};
D.episodes.forEach(function (e, i) { e.idx = i; (byTaskPolicy[e.task_id] = byTaskPolicy[e.task_id] || {})[e.policy] = e; });
var S = {policy: "", type: "", wrong: false, q: "", a: "", b: "", task: "", sel: ""};

function el(tag, attrs, kids) {
  var n = document.createElement(tag);
  if (attrs) for (var k in attrs) {
    if (k === "text") n.textContent = attrs[k];
    else if (k === "cls") n.className = attrs[k];
    else n.setAttribute(k, attrs[k]);
  }
  (kids || []).forEach(function (c) { if (c != null) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
  return n;
}
function fmt(x, d) { return (x === null || x === undefined) ? "–" : Number(x).toFixed(d === undefined ? 2 : d); }
function wrong(e) { return !e || !(e.em >= 1); }
function opt(sel, value, text) { sel.appendChild(el("option", {value: value, text: text})); }

function readHash() {
  var h = new URLSearchParams(location.hash.replace(/^#/, ""));
  S.policy = h.get("policy") || ""; S.type = h.get("type") || ""; S.wrong = h.get("wrong") === "1";
  S.q = h.get("q") || ""; S.a = h.get("a") || ""; S.b = h.get("b") || ""; S.task = h.get("task") || "";
  S.sel = h.get("sel") || S.policy;
}
function writeHash() {
  var h = new URLSearchParams();
  ["policy", "type", "q", "a", "b", "task", "sel"].forEach(function (k) { if (S[k]) h.set(k, S[k]); });
  if (S.wrong) h.set("wrong", "1");
  history.replaceState(null, "", "#" + h.toString());
}
function compareMode() { return S.a && S.b && S.a !== S.b; }

function initControls() {
  var p = document.getElementById("filter-policy"), t = document.getElementById("filter-type");
  var a = document.getElementById("cmp-a"), b = document.getElementById("cmp-b");
  opt(p, "", "all (" + D.policies.length + ")");
  D.policies.forEach(function (x) { opt(p, x, x); });
  opt(t, "", "all");
  D.types.forEach(function (x) { opt(t, x, x.replace(/_/g, " ")); });
  opt(a, "", "–"); opt(b, "", "–");
  D.policies.forEach(function (x) { opt(a, x, x); opt(b, x, x); });
  p.value = S.policy; t.value = S.type; a.value = S.a; b.value = S.b;
  document.getElementById("filter-wrong").checked = S.wrong;
  document.getElementById("filter-search").value = S.q;
  function on(id, ev, f) { document.getElementById(id).addEventListener(ev, function (e) { f(e.target); writeHash(); renderList(); }); }
  on("filter-policy", "change", function (x) { S.policy = x.value; if (x.value) S.sel = x.value; renderDetail(); });
  on("filter-type", "change", function (x) { S.type = x.value; });
  on("filter-wrong", "change", function (x) { S.wrong = x.checked; });
  on("filter-search", "input", function (x) { S.q = x.value; });
  on("cmp-a", "change", function (x) { S.a = x.value; renderDetail(); });
  on("cmp-b", "change", function (x) { S.b = x.value; renderDetail(); });
}

// One list item per episode; in side-by-side mode one per task that both policies ran.
function items() {
  var q = S.q.toLowerCase(), out = [];
  function keep(task_id) {
    var t = D.tasks[task_id];
    if (S.type && t.type !== S.type) return false;
    if (q && t.question.toLowerCase().indexOf(q) < 0 && task_id.toLowerCase().indexOf(q) < 0) return false;
    return true;
  }
  if (compareMode()) {
    Object.keys(byTaskPolicy).forEach(function (tid) {
      var ea = byTaskPolicy[tid][S.a], eb = byTaskPolicy[tid][S.b];
      if (!ea || !eb || !keep(tid)) return;
      if (S.wrong && !wrong(ea) && !wrong(eb)) return;
      out.push({task_id: tid, eps: [ea, eb]});
    });
  } else {
    D.episodes.forEach(function (e) {
      if (S.policy && e.policy !== S.policy) return;
      if (S.wrong && !wrong(e)) return;
      if (!keep(e.task_id)) return;
      out.push({task_id: e.task_id, eps: [e]});
    });
  }
  return out;
}

function renderList() {
  var list = document.getElementById("episode-list"), its = items();
  list.textContent = "";
  if (!S.task && its.length) { S.task = its[0].task_id; S.sel = its[0].eps[0].policy; }
  its.forEach(function (it) {
    var t = D.tasks[it.task_id];
    var meta = it.eps.map(function (e) { return e.policy + ": F1 " + fmt(e.f1) + (wrong(e) ? " ✗" : " ✓"); }).join(" · ");
    var li = el("li", {"data-task": it.task_id}, [el("span", {cls: "q", text: t.question}),
      el("span", {cls: "meta", text: t.type.replace(/_/g, " ") + " · " + meta})]);
    if (it.task_id === S.task && (compareMode() || it.eps[0].policy === S.sel)) li.className = "sel";
    li.addEventListener("click", function () {
      S.task = it.task_id; S.sel = it.eps[0].policy;
      writeHash(); renderList(); renderDetail();
    });
    list.appendChild(li);
  });
  var n = D.episodes.length, agg = D.policies.map(function (p) {
    var es = D.episodes.filter(function (e) { return e.policy === p; }), f = 0;
    es.forEach(function (e) { f += e.f1 || 0; });
    return p + " mean F1 " + fmt(es.length ? f / es.length : null);
  });
  document.getElementById("summary").textContent = its.length + (compareMode() ? " tasks shown (side by side: " + S.a + " vs " + S.b + ")" : " of " + n + " episodes shown") +
    " · " + Object.keys(D.tasks).length + " tasks · " + D.policies.length + " policies (" + agg.join(", ") + ") · files: " + D.files.join(", ");
}

function chunkTable(t, e) {
  var order = {}; e.opened.forEach(function (c, i) { order[c] = i + 1; });
  var cost = {}; e.steps.forEach(function (s) { if (s.kind === "open" && s.cost) cost[s.chunk] = s.cost; });
  var gold = {}; t.gold_ids.forEach(function (g) { gold[g] = true; });
  var tb = el("tbody");
  t.pool.forEach(function (c) {
    var txt = e.texts[String(c.id)];
    var prev = txt ? el("details", {}, [el("summary", {text: c.preview || c.title}), el("div", {cls: "txt", text: txt})])
                   : el("span", {text: c.preview || c.title});
    var tr = el("tr", {cls: order[c.id] ? "opened" : ""}, [
      el("td", {text: String(c.id)}),
      el("td", {}, [gold[c.id] ? el("span", {cls: "gold", title: "gold (supporting) chunk", text: "★ gold"}) : ""]),
      el("td", {}, [order[c.id] ? el("span", {cls: "badge", title: "opening order", text: "#" + order[c.id]}) : ""]),
      el("td", {text: c.tokens == null ? "?" : String(c.tokens)}),
      el("td", {}, [prev])]);
    tb.appendChild(tr);
  });
  return el("table", {cls: "pool"}, [el("thead", {}, [el("tr", {}, ["id", "gold", "opened", "tokens", "preview (click an opened one for its text)"].map(function (h) { return el("th", {text: h}); }))]), tb]);
}

function stepTable(e) {
  var tb = el("tbody");
  e.steps.forEach(function (s, i) {
    var what = s.kind === "open" ? "OPEN " + s.chunk : s.kind === "summarize" ? "SUMMARIZE" : s.kind === "answer" ? "ANSWER: " + (s.text || "") : "parse error: " + (s.text || "");
    tb.appendChild(el("tr", {}, [el("td", {text: String(i + 1)}), el("td", {cls: "kind", text: what}),
      el("td", {text: String(s.cost || 0)}), el("td", {text: s.status || ""})]));
  });
  return el("table", {cls: "steps"}, [el("thead", {}, [el("tr", {}, ["step", "action", "cost (tokens)", "status"].map(function (h) { return el("th", {text: h}); }))]), tb]);
}

function episodeCol(t, e) {
  var col = el("div", {cls: "col episode", "data-policy": e.policy});
  col.appendChild(el("h3", {text: e.policy}));
  var cls = e.em >= 1 ? "ok" : e.f1 > 0 ? "partial" : "bad";
  col.appendChild(el("div", {cls: "ans " + cls}, [el("b", {text: "Answer: "}), el("span", {cls: "answer", text: e.answer == null ? "(no answer: " + e.stop_reason + ")" : e.answer}),
    el("br"), el("b", {text: "Gold: "}), el("span", {cls: "gold-answer", text: t.gold})]));
  col.appendChild(el("div", {cls: "scores"}, [el("span", {text: "F1 " + fmt(e.f1)}), el("span", {text: "EM " + fmt(e.em, 0)}),
    el("span", {text: "reward " + fmt(e.reward, 3)}), el("span", {text: "tokens read " + e.tokens_read + " / " + e.budget}),
    el("span", {text: "opens " + e.opened.length}), el("span", {text: "stop: " + e.stop_reason})].concat(e.n_parse_errors ? [el("span", {text: "parse errors " + e.n_parse_errors})] : [])));
  var path = e.steps.filter(function (s) { return s.kind === "open" && s.cost; }).map(function (s) { return s.chunk + " (" + s.cost + " tok)"; });
  col.appendChild(el("div", {cls: "path"}, [el("b", {text: "Reading path: "}), el("span", {text: path.length ? path.join(" → ") : "nothing opened"})]));
  var notes = e.steps.filter(function (s) { return s.kind === "summarize"; });
  col.appendChild(el("h4", {text: "Notes (SUMMARIZE)"}));
  if (notes.length) notes.forEach(function (s) { col.appendChild(el("div", {cls: "notes", text: s.text || ""})); });
  else col.appendChild(el("div", {cls: "muted", text: "no notes written"}));
  col.appendChild(el("h4", {text: "Steps"}));
  col.appendChild(stepTable(e));
  col.appendChild(el("h4", {text: "Chunk pool (★ gold, #n = opening order)"}));
  col.appendChild(chunkTable(t, e));
  return col;
}

function renderDetail() {
  var d = document.getElementById("detail");
  d.textContent = "";
  var t = D.tasks[S.task];
  if (!t) { d.appendChild(el("div", {cls: "empty", text: "Select an episode on the left."})); return; }
  d.appendChild(el("div", {cls: "qbox"}, [el("h2", {id: "question", text: t.question}),
    el("div", {cls: "muted", text: "task " + S.task + " · type " + t.type.replace(/_/g, " ") + " · gold answer: " + t.gold + " · gold chunks: " + t.gold_ids.join(", ")})]));
  var eps = byTaskPolicy[S.task] || {}, show;
  if (compareMode()) show = [eps[S.a], eps[S.b]];
  else show = [eps[S.sel] || eps[S.policy] || eps[Object.keys(eps)[0]]];
  var cols = el("div", {cls: "cols"});
  show.forEach(function (e) { if (e) cols.appendChild(episodeCol(t, e)); });
  var others = Object.keys(eps).filter(function (p) { return show.indexOf(eps[p]) < 0; });
  d.appendChild(cols);
  if (others.length) d.appendChild(el("p", {cls: "muted", text: "Also run on this task: " + others.join(", ") + " (pick two policies under 'Side by side')."}));
}

readHash();
initControls();
renderList();
renderDetail();
window.addEventListener("hashchange", function () { readHash(); initControlsValues(); renderList(); renderDetail(); });
function initControlsValues() {
  document.getElementById("filter-policy").value = S.policy; document.getElementById("filter-type").value = S.type;
  document.getElementById("filter-wrong").checked = S.wrong; document.getElementById("filter-search").value = S.q;
  document.getElementById("cmp-a").value = S.a; document.getElementById("cmp-b").value = S.b;
}
</script>
</body></html>
"""
