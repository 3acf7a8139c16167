"""The review page in a real headless Chromium: keys and clicks save decisions, outputs rewritten.

Skipped when Playwright or Chromium is absent (``apt-get install chromium`` and
``pip install playwright``; the system Chromium is used, nothing is downloaded).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from poppyscan.field.review import Review
from poppyscan.field.review_server import make_server
from poppyscan.output_folder import verify_outputs
from tests.field.test_review import published  # noqa: F401 - the module's run folder fixture

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture()
def served(published, tmp_path):  # noqa: F811 - the imported fixture
    run_dir = tmp_path / "run"
    shutil.copytree(published, run_dir)
    server = make_server(Review.open(run_dir), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    yield run_dir, f"http://{host}:{port}/"
    server.shutdown()
    server.server_close()


def test_keys_and_clicks_save_decisions_and_rewrite_the_outputs(served, tmp_path):
    run_dir, url = served
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            assert page.text_content("#title").startswith("M1-0001 (1 of 5)")
            # data-ready comes with the page; the thumbnail loads after it (slowly, under load).
            page.wait_for_function("document.querySelector('#near').complete")
            assert page.eval_on_selector("#near", "img => img.naturalWidth") == 320
            page.keyboard.press("r")  # M1-0001 rejected, on to M1-0002
            page.wait_for_selector("#list div[data-target='M1-0001'].reject")
            page.keyboard.press("k")
            page.wait_for_selector("#list div[data-target='M1-0002'].keep")
            page.click("#unsure")
            page.wait_for_selector("#list div[data-target='M1-0003'].unsure")
            page.click("#list div[data-target='M1-0005']")
            page.keyboard.press("r")
            page.wait_for_selector("#list div[data-target='M1-0005'].reject")
            page.keyboard.press("w")
            page.wait_for_function("document.getElementById('status').textContent"
                                   ".startsWith('written')")
            status = page.text_content("#status")
            page.screenshot(path=str(tmp_path / "review.png"))
        finally:
            browser.close()
    assert status.startswith("written: 3 targets kept, 2 rejected (rejected.geojson)")
    assert all(r.startswith(url) for r in requests)  # nothing but the local server
    decisions = json.loads((run_dir / "review.json").read_text())["decisions"]
    assert {k: v["decision"] for k, v in decisions.items()} == {
        "M1-0001": "reject", "M1-0002": "keep", "M1-0003": "unsure", "M1-0005": "reject"}
    assert verify_outputs(run_dir) == []
    kept = json.loads((run_dir / "targets.geojson").read_text())["features"]
    assert [f["id"] for f in kept] == ["M1-0002", "M1-0003", "M1-0004"]
    rejected = json.loads((run_dir / "rejected.geojson").read_text())["features"]
    assert [f["id"] for f in rejected] == ["M1-0001", "M1-0005"]
