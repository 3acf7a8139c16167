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


def _log_in_and_open_mission(page, service, password: str, mission: str) -> None:
    page.goto(f"{service.url}/")
    assert page.url.startswith(f"{service.url}/login")
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}/")
    page.fill("input[name=name]", mission)
    page.click("#new-mission button")
    page.wait_for_url(f"{service.url}/missions/*")


def _fly(page, service, path: Path, n_jobs: int) -> None:
    """Upload ``path``, run detection on it alone, wait for the mission's ``n_jobs``-th job."""
    mission_id = page.url.split("/")[4]
    page.set_input_files("#file-input", str(path))
    page.locator("#files tr").filter(has_text=path.name).locator(
        "td:nth-child(3):text-is('ready')").wait_for(timeout=120_000)
    files = page.request.get(f"{service.url}/api/missions/{mission_id}/files").json()
    file_id = next(f["id"] for f in files if f["name"] == path.name)
    started = page.request.post(f"{service.url}/api/missions/{mission_id}/jobs",
                                data={"file_ids": [file_id]}, headers={"Origin": service.url})
    assert started.ok, started.text()
    page.locator("#flights tr.flight").nth(n_jobs - 1).wait_for(timeout=30_000)
    page.locator("#job-state[data-state=done]").wait_for(timeout=300_000)


def _blank_flight(survey: Path, out: Path) -> Path:
    """The survey's ground flown again with nothing on it: one flat colour, same footprint."""
    import numpy as np
    import rasterio

    with rasterio.open(survey) as src:
        profile = {**src.profile, "count": 3, "photometric": "RGB", "compress": "deflate"}
        profile.pop("nodata", None)
        shape = (3, src.height, src.width)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.broadcast_to(np.array([96, 110, 84], "uint8")[:, None, None], shape))
    return out


def test_a_second_flight_without_targets_still_shows_the_first_flights_target(browser, tmp_path):
    from poppyscan.synth import generate_survey

    survey = Path(generate_survey(tmp_path / "survey", seed=3, size_px=(1024, 1024),
                                  gsd_m=0.05, overwrite=True).ortho_path)
    blank = _blank_flight(survey, tmp_path / "again.tif")
    password, _ = add_user(tmp_path / "data", "ann", "north")
    service = LiveService(tmp_path / "data", tmp_path / "cache", model=None)  # the bundled model
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _log_in_and_open_mission(page, service, password, "F2")
        _fly(page, service, survey, 1)
        page.wait_for_selector("#targets tbody tr.target", timeout=30_000)
        first = page.locator("#targets tbody tr.target td:first-child").all_text_contents()
        assert first and all(t.startswith("NORTH-") for t in first)
        _fly(page, service, blank, 2)
        assert "found 0 targets" in page.locator("#job-state").text_content()
        page.wait_for_timeout(3000)  # two of the page's refreshes after the second job ended
        rows = page.locator("#targets tbody tr.target")
        assert rows.locator("td:first-child").all_text_contents() == first  # still there
        states = rows.locator("td:nth-child(2)").all_text_contents()
        assert set(states) == {"pending"}
        flown_not_seen = rows.locator("td:nth-child(7)").all_text_contents()
        assert set(flown_not_seen) == {"1"}
        assert page.locator(".target-marker").count() == len(first)
        assert errors == []
    finally:
        service.stop()


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
        _log_in_and_open_mission(page, service, password, "F1")
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
