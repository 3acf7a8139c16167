"use strict";
// The mission page: files and resumable uploads, the job's live progress, results and registry.
const missionId = location.pathname.split("/")[2];
const PRIORITY = {"#e31a1c": "high", "#ff7f00": "medium", "#ffd92f": "low"};
let shownJob = null;
let currentJob = null;

// The registry's open states (field/registry/state.py OPEN_STATES): crews still go there.
const OPEN = new Set(["pending", "inaccessible", "confirmed", "replant", "disputed"]);

async function refresh() {
  const [mission, files, jobs] = await Promise.all([api(`/api/missions/${missionId}`),
    api(`/api/missions/${missionId}/files`), api(`/api/missions/${missionId}/jobs`)]);
  document.getElementById("mission-name").textContent = mission.name;
  document.title = `poppyscan: ${mission.name}`;
  showFiles(files);
  showJob(jobs[0] || null);
  showFlights(jobs, files);
  if (mission.result_job_id && mission.result_job_id !== shownJob) {
    shownJob = mission.result_job_id;
    await showResults(shownJob);
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function showFiles(files) {
  const rows = files.map((f) => el("tr", {},
    el("td", {text: f.name}), el("td", {text: `${(f.length / 1e6).toFixed(1)} MB`}),
    el("td", {class: f.state === "rejected" ? "error" : "", text: f.error || f.state})));
  document.querySelector("#files tbody").replaceChildren(...rows);
  MissionMap.showFiles(files);
  document.getElementById("run-job").disabled = !files.some((f) => f.state === "ready");
}

function showJob(job) {
  currentJob = job;
  const state = document.getElementById("job-state");
  const bar = document.getElementById("job-progress");
  const error = document.getElementById("job-error");
  const running = job && (job.state === "queued" || job.state === "running");
  document.getElementById("cancel-job").hidden = !running || job.cancel_requested;
  bar.hidden = !running;
  if (!job) { state.textContent = "No job yet."; return; }
  bar.value = job.fraction;
  const eta = job.eta_s !== null ? `, about ${clock(job.eta_s)} left` : "";
  const chips = job.chips_total ? ` · ${job.chips_done}/${job.chips_total} chips` : "";
  state.textContent = job.state === "done"
    ? `Done: this flight found ${plural(job.targets, "target")}; the mission's are below.`
    : `${job.state}: ${job.stage}${chips}${running ? eta : ""}`;
  state.dataset.state = job.state;
  error.hidden = !job.error;
  error.textContent = job.error || "";
}

function showFlights(jobs, files) {
  const names = new Map(files.map((f) => [f.id, f.name]));
  const rows = jobs.map((job) => el("tr", {class: "flight"},
    el("td", {text: new Date(job.created_at * 1000).toISOString().slice(0, 16).replace("T", " ")}),
    el("td", {text: job.state}),
    el("td", {text: job.state === "done" ? job.targets : ""}),
    el("td", {text: job.file_ids.map((id) => names.get(id) || "(deleted)").join(", ")})));
  document.querySelector("#flights tbody").replaceChildren(...rows);
  document.getElementById("flights-section").hidden = jobs.length === 0;
}

async function showResults(jobId) {
  const base = `/api/jobs/${jobId}/outputs`;
  const [listing, flight, registry] = await Promise.all([api(base),
    api(`${base}/targets.geojson`), api(`/api/missions/${missionId}/registry`)]);
  const thumbs = new Map(flight.features.map((f) => [f.properties.target_id, f.properties]));
  MissionMap.showResults(jobId, registry.coverage, registry.targets, thumbs);
  showTargets(registry.targets, thumbs);
  const links = listing.files.filter((f) => !f.path.startsWith("thumbs/")).map((f) =>
    el("li", {}, el("a", f.path.endsWith(".html") ? {href: `${base}/${f.path}`, target: "_blank",
      rel: "noopener", text: f.path} : {href: `${base}/${f.path}`, download: f.path, text: f.path}),
    el("span", {class: "muted", text: ` ${(f.bytes / 1e3).toFixed(0)} kB`})));
  document.getElementById("downloads").replaceChildren(...links);
  const field = document.getElementById("field-link");
  field.href = `/api/jobs/${jobId}/field.zip`;
  document.getElementById("field-qr").src = `/api/jobs/${jobId}/field-qr.svg`;
  document.getElementById("downloads-section").hidden = false;
  showRegistry(registry);
}

// The registry's targets of this mission over every flight: open ones first, surest first.
function showTargets(targets, thumbs) {
  const ordered = [...targets].sort((a, b) => OPEN.has(b.state) - OPEN.has(a.state)
    || (b.max_conf || 0) - (a.max_conf || 0));
  const rows = ordered.map((t) => {
    const flight = thumbs.get(t.target_id);
    const priority = flight ? PRIORITY[flight["marker-color"]] || "" : "";
    const row = el("tr", {class: "target", "data-target": t.target_id},
      el("td", {text: t.target_id}), el("td", {text: t.state}),
      el("td", {}, el("span", {class: `dot ${priority}`}), ` ${priority}`),
      el("td", {text: t.max_conf === null ? "" : `${Math.round(t.max_conf * 100)} %`}),
      el("td", {text: t.area_m2 === null ? "" : Math.round(t.area_m2)}),
      el("td", {text: (t.last_seen || "").slice(0, 10)}), el("td", {text: t.n_flown_not_seen}),
      el("td", {text: t.n_verdicts}), el("td", {text: `${t.lat.toFixed(6)}, ${t.lon.toFixed(6)}`}));
    row.addEventListener("click", () => MissionMap.focus(t.target_id));
    return row;
  });
  document.querySelector("#targets tbody").replaceChildren(...rows);
  const open = targets.filter((t) => OPEN.has(t.state)).length;
  document.getElementById("target-count").textContent =
    `${plural(targets.length, "target")} over every flight, ${open} open`;
  document.getElementById("targets-section").hidden = false;
}

function showRegistry(status) {
  const rows = status.missions.map((m) => el("tr", {}, ...[m.runs, m.targets, m.open,
    m.states.confirmed, m.states.false_positive, m.states.not_found, m.states.eradicated,
    m.verdicts].map((v) => el("td", {text: v}))));
  document.querySelector("#registry tbody").replaceChildren(...rows);
  document.getElementById("registry-section").hidden = false;
}

function upload(file) {
  const bar = el("progress", {max: 1, value: 0});
  const line = el("div", {}, el("span", {text: `${file.name} `}), bar);
  document.getElementById("uploads").append(line);
  const task = new tus.Upload(file, {
    endpoint: "/api/uploads",
    chunkSize: 16 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    removeFingerprintOnSuccess: true,
    metadata: {filename: file.name, mission: missionId},
    onProgress: (sent, total) => { bar.value = sent / total; },
    onSuccess: () => { line.remove(); refresh(); },
    onError: (error) => { line.replaceChildren(el("span", {class: "error", text: `${file.name}: ${error.message}`})); },
  });
  task.findPreviousUploads().then((previous) => {
    if (previous.length) task.resumeFromPreviousUpload(previous[0]);
    task.start();
  });
}

document.getElementById("file-input").addEventListener("change", (event) => {
  [...event.target.files].forEach(upload);
  event.target.value = "";
});

document.getElementById("run-job").addEventListener("click", async () => {
  await api(`/api/missions/${missionId}/jobs`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: "{}"});
  refresh();
});

document.getElementById("cancel-job").addEventListener("click", async () => {
  if (currentJob) await api(`/api/jobs/${currentJob.id}/cancel`, {method: "POST"});
  refresh();
});

document.getElementById("return-input").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  const result = document.getElementById("return-result");
  try {
    const summaries = await api(`/api/missions/${missionId}/returns`, {method: "PUT",
      headers: {"X-Filename": file.name, "Content-Type": "application/octet-stream"}, body: file});
    result.textContent = summaries.map((s) => `${plural(s.applied, "verdict")} applied, ${s.skipped} skipped` +
      (s.already ? " (imported before)" : "")).join("; ");
    shownJob = null;  // the targets' states and verdicts changed: show them again
    await refresh();
  } catch (e) {
    result.textContent = e.message;
  }
  event.target.value = "";
});

document.addEventListener("DOMContentLoaded", () => {
  MissionMap.init();
  refresh();
  setInterval(refresh, 1500);
});
