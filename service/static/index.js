"use strict";
// The team's missions, and a form for a new one.
async function showMissions() {
  const body = document.querySelector("#missions tbody");
  const missions = await api("/api/missions");
  body.replaceChildren(...missions.map((m) => {
    const job = m.last_job;
    const state = job ? `${job.state}${job.state === "running" ? ` ${Math.round(job.fraction * 100)} %` : ""}` : "no job yet";
    return el("tr", {}, el("td", {}, el("a", {href: `/missions/${m.id}`, text: m.name})),
      el("td", {text: state}), el("td", {text: job && job.targets !== null ? job.targets : ""}));
  }));
}

document.getElementById("new-mission").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("mission-error");
  try {
    const mission = await api("/api/missions", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({name: new FormData(event.target).get("name")}),
    });
    location.assign(`/missions/${mission.id}`);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
});

showMissions();
setInterval(showMissions, 5000);
