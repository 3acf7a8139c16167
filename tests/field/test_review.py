"""Office triage: decisions saved at once, outputs republished complete, rejections as negatives."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.detect.run import RunSpec, run_to_folder
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError, OutputError
from poppyscan.field.review import Review
from poppyscan.field.review_server import make_server
from poppyscan.output_folder import verify_outputs
from poppyscan.tiles import inspect_raster
from tests.detect.marks import MarkPredictor, make_marked_raster

# Five red marks, 2-3 m across, well apart on a 30 m x 30 m raster at 5 cm.
MARKS = [(60, 60, 100, 100), (300, 80, 350, 120), (480, 420, 520, 470), (100, 450, 150, 490),
         (300, 300, 340, 340)]


@pytest.fixture(scope="module")
def published(tmp_path_factory, untrained_bundle) -> Path:
    root = tmp_path_factory.mktemp("review")
    ortho = make_marked_raster(root / "flight.tif", (600, 600), MARKS)
    spec = RunSpec(untrained_bundle, MarkPredictor(), untrained_bundle.merge_settings(),
                   Runtime(batch_size=4, workers=1), mission="M1")
    run_to_folder([inspect_raster(ortho)], root / "run", spec)
    return root / "run"


@pytest.fixture()
def run_dir(published, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(published, copy)
    return copy


def features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


def test_views_at_two_zooms_come_from_the_orthomosaic(run_dir):
    review = Review.open(run_dir)
    assert [t.target_id for t in review.targets] == [f"M1-000{i}" for i in range(1, 6)]
    near = cv2.imread(str(review.view("M1-0001", "near")))
    far = cv2.imread(str(review.view("M1-0001", "far")))
    assert near.shape == far.shape == (320, 320, 3)
    red = lambda img: ((img[..., 2] > 160) & (img[..., 1] < 90)).mean()  # noqa: E731
    assert red(near) > 5 * red(far) > 0  # the near view is mostly the mark, the far one context
    assert review.counts() == {"keep": 0, "reject": 0, "unsure": 0, "undecided": 5}
    with pytest.raises(ConfigError, match="no target"):
        review.decide("M1-0099", "keep")
    with pytest.raises(ConfigError, match="keep, reject, unsure"):
        review.decide("M1-0001", "maybe")


def test_rejected_targets_leave_the_field_outputs_complete(run_dir):
    review = Review.open(run_dir)
    for target_id, decision in (("M1-0002", "reject"), ("M1-0004", "reject"), ("M1-0001", "keep"),
                                ("M1-0003", "unsure")):
        review.decide(target_id, decision)
    saved = json.loads((run_dir / "review.json").read_text())["decisions"]
    assert {k: v["decision"] for k, v in saved.items()} == {
        "M1-0001": "keep", "M1-0002": "reject", "M1-0003": "unsure", "M1-0004": "reject"}

    done = Review.open(run_dir).apply()  # decisions come back from review.json
    assert (done.kept, done.rejected, done.unsure) == (3, 2, 2)
    assert verify_outputs(run_dir) == []
    kept = features(run_dir / "targets.geojson")
    assert [f["properties"]["target_id"] for f in kept] == ["M1-0001", "M1-0003", "M1-0005"]
    assert [f["properties"]["rank"] for f in kept] == [1, 2, 3]
    assert len(features(run_dir / "plots.geojson")) == 3
    assert sorted(p.name for p in (run_dir / "thumbs").iterdir()) == [
        "M1-0001.jpg", "M1-0003.jpg", "M1-0005.jpg"]
    gpx = (run_dir / "targets.gpx").read_text()
    assert "M1-0002" not in gpx and "M1-0005" in gpx
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["counts"]["targets"] == 3
    assert manifest["extra"]["review"]["rejected"] == 2
    rejected = features(run_dir / "rejected.geojson")
    assert [f["properties"]["target_id"] for f in rejected] == ["M1-0002", "M1-0004"]

    # A rejection undone: the next rewrite starts from the run as first published.
    review = Review.open(run_dir)
    review.decide("M1-0004", "keep")
    assert review.apply().kept == 4
    assert verify_outputs(run_dir) == []
    assert len(features(run_dir / "targets.geojson")) == 4


def test_an_incomplete_run_folder_is_refused(run_dir):
    (run_dir / "targets.gpx").write_text("tampered")
    with pytest.raises(OutputError, match="not a complete run folder"):
        Review.open(run_dir)


def test_rejected_targets_are_hard_negatives_for_dataset_build(run_dir, tmp_path):
    from tests.data.rasters import ORIGIN

    review = Review.open(run_dir)
    review.decide("M1-0002", "reject")
    review.decide("M1-0004", "reject")
    review.apply()
    label = tmp_path / "labels.geojson"  # the marks of M1-0005, M1-0003, M1-0001 are real plots

    def square(x0, y0, x1, y1):
        xs, ys = ORIGIN[0] + x0 * 0.05, ORIGIN[1] - y1 * 0.05
        w, h = (x1 - x0) * 0.05, (y1 - y0) * 0.05
        return {"type": "Feature", "properties": {"label": "poppy"}, "geometry": {
            "type": "Polygon", "coordinates": [[[xs, ys], [xs + w, ys], [xs + w, ys + h],
                                                [xs, ys + h], [xs, ys]]]}}

    label.write_text(json.dumps({
        "type": "FeatureCollection", "features": [square(*MARKS[i]) for i in (0, 1, 3)],
        "crs": {"type": "name", "properties": {"name": "EPSG:32647"}}}))
    ortho = json.loads((run_dir / "run.json").read_text())["inputs"][0]["path"]
    result = CliRunner().invoke(cli, [
        "dataset", "build", "--ortho", ortho, "--labels", str(label), "--out", str(tmp_path / "ds"),
        "--gsd", "0.05", "--tile-px", "128", "--overlap-px", "32", "--negative-ratio", "0",
        "--block-m", "8", "--test-frac", "0", "--hard-negatives", str(run_dir / "rejected.geojson")])
    assert result.exit_code == 0, result.output
    counts = json.loads((tmp_path / "ds" / "summary.json").read_text())["counts"]
    assert counts["hard_negatives_in"] == 2 and counts["hard_negative_chips"] >= 2


def test_rejections_go_into_the_registry_as_office_verdicts(run_dir, tmp_path):
    registry = tmp_path / "area.gpkg"
    review = Review.open(run_dir)
    review.decide("M1-0002", "reject")
    review.decide("M1-0001", "keep")
    done = review.apply(registry)
    assert done.verdicts_applied == 1
    assert review.apply(registry).verdicts_applied == 0  # the same decisions again: nothing new
    con = sqlite3.connect(registry)
    states = dict(con.execute(
        "SELECT s.run_target_id, t.state FROM targets t JOIN sightings s USING (target_id)"))
    crews = con.execute("SELECT crew, status FROM verdicts").fetchall()
    con.close()
    assert len(states) == 5  # the run as first published, rejected target included
    assert states["M1-0002"] == "false_positive" and states["M1-0001"] == "pending"
    assert crews == [("office", "false_positive")]


def test_the_server_answers_on_127_0_0_1_only(run_dir):
    server = make_server(Review.open(run_dir), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"
    try:
        assert host == "127.0.0.1"
        state = json.loads(urllib.request.urlopen(f"{base}/api/targets").read())
        assert len(state["targets"]) == 5 and state["counts"]["undecided"] == 5
        request = urllib.request.Request(f"{base}/api/decide", method="POST",
                                         data=json.dumps({"target_id": "M1-0003",
                                                          "decision": "reject"}).encode(),
                                         headers={"Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(request).read())["counts"]["reject"] == 1
        jpeg = urllib.request.urlopen(f"{base}/view/M1-0003/far").read()
        assert jpeg[:3] == b"\xff\xd8\xff"
        foreign = urllib.request.Request(f"{base}/api/targets", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(foreign)
        bad = urllib.request.Request(f"{base}/api/decide", method="POST",
                                     data=b'{"target_id": "M1-0003", "decision": "burn"}')
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(bad)
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads((run_dir / "review.json").read_text())["decisions"]["M1-0003"]["decision"] == "reject"


def test_review_apply_cli(run_dir):
    Review.open(run_dir).decide("M1-0005", "reject")
    result = CliRunner().invoke(cli, ["review", str(run_dir), "--apply"])
    assert result.exit_code == 0, result.output
    assert "4 targets kept, 1 rejected" in result.output
    assert verify_outputs(run_dir) == []
