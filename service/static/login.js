"use strict";
// Log in, then go back to the page that sent us here (a path on this site only).
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const answer = await fetch("/api/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({name: form.get("name"), password: form.get("password")}),
  });
  if (answer.ok) {
    const next = new URLSearchParams(location.search).get("next") || "/";
    location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
  } else {
    const error = document.getElementById("login-error");
    error.textContent = (await answer.json()).detail || "Log in failed";
    error.hidden = false;
  }
});
