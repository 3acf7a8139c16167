"""The mission page in a real headless Chromium: log in, upload, watch the job, map, field package.

Skips when Debian's chromium or the playwright package is missing. With
``POPPYSCAN_SCREENSHOTS=DIR`` set, the pages are saved there as PNG
(``docs/service/`` holds the committed ones).
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.service.live import LiveService, add_user

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
playwright_api = pytest.importorskip("playwright.sync_api")
LEAFLET_BLANK = "data:image/gif;base64"  # Leaflet's built-in blank tile, refused by the CSP


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield chromium
        chromium.close()


def test_a_team_uploads_watches_and_gets_targets_on_the_map(browser, tmp_path):
    from poppyscan.synth import generate_survey

    survey = Path(generate_survey(tmp_path / "survey", seed=3, size_px=(1024, 1024),
                                  gsd_m=0.05, overwrite=True).ortho_path)
    password, _ = add_user(tmp_path / "data", "ann", "north")
    service = LiveService(tmp_path / "data", tmp_path / "cache", model=None)  # the bundled model
    shots = os.environ.get("POPPYSCAN_SCREENSHOTS")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        foreign, errors = [], []
        page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(
            (service.url, "data:")) else None)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and
                LEAFLET_BLANK not in m.text else None)
        page.goto(f"{service.url}/")
        assert page.url.startswith(f"{service.url}/login")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{service.url}/")
        page.fill("input[name=name]", "F1")
        page.click("#new-mission button")
        page.wait_for_url(f"{service.url}/missions/*")
        page.set_input_files("#file-input", str(survey))
        page.wait_for_selector("#files td:text('ready')", timeout=120_000)
        page.click("#run-job")
        page.wait_for_selector("#job-state:text('Done')", timeout=300_000)
        page.wait_for_selector(".target-marker", timeout=30_000)
        markers = page.locator(".target-marker").count()
        rows = page.locator("#targets tbody tr").count()
        assert markers == rows >= 1
        page.locator("#targets tbody tr").first.click()
        page.wait_for_selector(".leaflet-popup img")
        page.wait_for_load_state("networkidle")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/mission.png", full_page=True)
        with page.expect_download() as download:
            page.click("#field-link")
        members = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
        assert any(m.endswith(".qgz") for m in members)
        assert page.locator("#field-qr").evaluate("img => img.naturalWidth") > 0
        assert foreign == [] and errors == []
        if shots:
            page.goto(f"{service.url}/")
            page.wait_for_selector("#missions a")
            page.screenshot(path=f"{shots}/missions.png")
    finally:
        service.stop()
