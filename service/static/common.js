"use strict";
// Shared by the pages: JSON requests with the session cookie, small DOM helpers, log out.
async function api(path, options = {}) {
  const answer = await fetch(path, {credentials: "same-origin", ...options});
  if (answer.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname));
    throw new Error("not logged in");
  }
  if (!answer.ok) {
    let detail = answer.statusText;
    try { detail = (await answer.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return answer.status === 204 ? null : answer.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/api/session", {method: "DELETE", credentials: "same-origin"});
    location.assign("/login");
  });
  const me = await api("/api/me");
  document.getElementById("who").textContent = `${me.name} · team ${me.team}`;
});
