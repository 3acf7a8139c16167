"""The review page's HTML, style and script, all inline (no network, no CDN)."""

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>poppyscan review</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; display: flex; height: 100vh; }
#list { width: 250px; overflow-y: auto; border-right: 1px solid #ccc; }
#list div { padding: 4px 8px; cursor: pointer; display: flex; justify-content: space-between; }
#list div.current { background: #ddeeff; }
.keep { color: #1a7f37; } .reject { color: #cf222e; } .unsure { color: #9a6700; }
#main { flex: 1; padding: 12px 18px; overflow-y: auto; }
#views img { width: 320px; height: 320px; margin-right: 12px; border: 1px solid #999; }
#views figure { display: inline-block; margin: 0 12px 0 0; }
button { font-size: 15px; margin: 6px 8px 6px 0; padding: 6px 14px; }
#status { margin-top: 10px; color: #333; }
kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 4px; }
</style></head>
<body>
<div id="list"></div>
<div id="main">
  <h2 id="title">loading...</h2>
  <div id="meta"></div>
  <div id="views">
    <figure><img id="near" alt="target, 2 m around"><figcaption>target, 2 m around</figcaption></figure>
    <figure><img id="far" alt="40 m of context"><figcaption>40 m of context</figcaption></figure>
  </div>
  <div>
    <button id="keep"><kbd>k</kbd> keep</button>
    <button id="reject"><kbd>r</kbd> reject</button>
    <button id="unsure"><kbd>u</kbd> unsure</button>
    <button id="prev"><kbd>&larr;</kbd> previous</button>
    <button id="next">next <kbd>&rarr;</kbd></button>
  </div>
  <div><button id="apply"><kbd>w</kbd> write field outputs without rejected targets</button></div>
  <div id="counts"></div>
  <div id="status"></div>
</div>
<script>
let state = null, index = 0;
const $ = (id) => document.getElementById(id);

async function call(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) { $("status").textContent = "error: " + data.error; throw new Error(data.error); }
  return data;
}

function show() {
  const targets = state.targets;
  if (!targets.length) { $("title").textContent = "no targets in " + state.run; return; }
  const t = targets[index];
  $("title").textContent = t.target_id + (t.run_target_id ? " [run id " + t.run_target_id + "]" : "")
    + " (" + (index + 1) + " of " + targets.length + ")";
  $("title").className = t.decision || "";
  $("meta").textContent = "conf " + t.conf.toFixed(2) + ", " + t.area_m2.toFixed(0) + " m2, " +
    t.lat.toFixed(6) + ", " + t.lon.toFixed(6) + ", " + t.sources.join("; ") +
    " - decision: " + (t.decision || "none yet");
  $("near").src = "/view/" + encodeURIComponent(t.target_id) + "/near";
  $("far").src = "/view/" + encodeURIComponent(t.target_id) + "/far";
  $("list").innerHTML = "";
  targets.forEach((x, i) => {
    const row = document.createElement("div");
    row.dataset.target = x.target_id;
    row.className = (i === index ? "current " : "") + (x.decision || "");
    row.innerHTML = "<span>" + x.target_id + "</span><span>" + (x.decision || "") + "</span>";
    row.onclick = () => { index = i; show(); };
    $("list").appendChild(row);
  });
  const c = state.counts;
  $("counts").textContent = "keep " + c.keep + ", reject " + c.reject + ", unsure " + c.unsure +
    ", undecided " + c.undecided + (state.registry ? " - registry " + state.registry : "");
}

async function decide(decision) {
  if (!state.targets.length) return;
  state = await call("/api/decide", {target_id: state.targets[index].target_id, decision});
  $("status").textContent = "saved: " + decision;
  if (index < state.targets.length - 1) index += 1;
  show();
}

async function apply() {
  $("status").textContent = "writing the field outputs...";
  state = await call("/api/apply", {});
  const a = state.applied;
  $("status").textContent = "written: " + a.kept + " targets kept, " + a.rejected +
    " rejected (" + a.rejected_file + ")" +
    (a.verdicts_applied === null ? "" : ", " + a.verdicts_applied + " verdicts into the registry");
  show();
}

$("keep").onclick = () => decide("keep");
$("reject").onclick = () => decide("reject");
$("unsure").onclick = () => decide("unsure");
$("prev").onclick = () => { index = Math.max(0, index - 1); show(); };
$("next").onclick = () => { index = Math.min(state.targets.length - 1, index + 1); show(); };
$("apply").onclick = apply;
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const keys = {k: () => decide("keep"), r: () => decide("reject"), u: () => decide("unsure"),
    w: apply, ArrowLeft: () => $("prev").onclick(), ArrowRight: () => $("next").onclick()};
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});
call("/api/targets").then((data) => { state = data; show(); document.body.dataset.ready = "1"; });
</script>
</body></html>
"""
