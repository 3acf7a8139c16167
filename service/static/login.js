"use strict";
// Log in, then go back to the page that sent us here (a path on this site only).

// `next` resolved as the browser would against this page's origin, kept only when the
// origin stays the same: '/\evil', '/%09/evil' and '//evil' all resolve to another host.
function sameOriginPath(next) {
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
  } catch (error) {
    return "/";
  }
}

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
    location.assign(sameOriginPath(next));
  } else {
    const error = document.getElementById("login-error");
    error.textContent = (await answer.json()).detail || "Log in failed";
    error.hidden = false;
  }
});
