"""Finding 4 of issue 29: after logging in, the browser goes back only to a page of this site."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.service.conftest import Service
from tests.service.live import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
playwright_api = pytest.importorskip("playwright.sync_api")
# The two (sent the browser to http://evil.invalid/), then their relatives.
HOSTILE = ("/%5Cevil.invalid/", "/%09/evil.invalid/", "//evil.invalid/", "/%5C%5Cevil.invalid",
           "https://evil.invalid/", "/%0A/evil.invalid/", "javascript:alert(1)",
           "http://127.0.0.1@evil.invalid/")


@pytest.fixture
def site(tmp_path, small_bundle):
    """The app served by uvicorn on 127.0.0.1 in a thread (no workers): (service, origin)."""
    import uvicorn

    service = Service(tmp_path, small_bundle)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield service, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _log_in(browser, service, origin: str, next_value: str) -> tuple[str, list[str]]:
    """Log in at /login?next=...: the URL the browser ends on, and any off-site request."""
    context = browser.new_context()
    page, outside = context.new_page(), []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(origin)
                  else (outside.append(route.request.url), route.abort()))
    page.goto(f"{origin}/login?next={next_value}")
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", service.secrets["ann"][0])
    try:
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_load_state()
    except playwright_api.Error:  # the off-site navigation was aborted: `outside` names it
        pass
    url = page.url
    context.close()
    return url, outside


def test_next_goes_only_to_a_path_of_this_site(site):
    service, origin = site
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for hostile in HOSTILE:
                url, outside = _log_in(browser, service, origin, hostile)
                assert (url, outside) == (f"{origin}/", []), hostile
            mission = service.mission("ann")
            url, outside = _log_in(browser, service, origin, f"/missions/{mission}?tab=map")
            assert (url, outside) == (f"{origin}/missions/{mission}?tab=map", [])
        finally:
            browser.close()
