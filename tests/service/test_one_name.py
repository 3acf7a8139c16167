"""One plot, one id: followed from the service's detection through review, package, verdicts, page.

The model is :class:`tests.detect.marks.MarkPredictor` (it finds the flight's
red plot exactly), so the run has one target whose name is checked in every
output a person reads.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from tests.detect.marks import MarkPredictor
from tests.field.flights import make_flight


class Marks(MarkPredictor):
    device, backend, precision = "cpu", "torch", "f32"


@pytest.fixture
def marks_model(monkeypatch):
    from poppyscan.detect.bundle import ModelBundle

    monkeypatch.setattr(ModelBundle, "predictor", lambda self, *a, **k: Marks())


def _job(service, mission_id: str, flight: Path) -> str:
    file = service.upload("ann", mission_id, flight.read_bytes(), name=flight.name)
    assert file["state"] == "ready", file
    job = service.client.post(f"/api/missions/{mission_id}/jobs", json={"file_ids": [file["id"]]},
                              headers=service.auth("ann")).json()
    assert service.run_jobs() == 1
    return job["id"]


def _names_in_outputs(out: Path) -> dict[str, set[str]]:
    """Every target name each output a person reads carries."""
    points = json.loads((out / "targets.geojson").read_text())["features"]
    plots = json.loads((out / "plots.geojson").read_text())["features"]
    return {
        "targets.geojson": {f["properties"]["target_id"] for f in points},
        "plots.geojson": {f["properties"]["target_id"] for f in plots},
        "geojson names": {f["properties"]["name"].split()[0] for f in points},
        "gpkg": {r[0] for r in sqlite3.connect(out / "targets.gpkg").execute(
            "SELECT target_id FROM targets")},
        "thumbs": {p.stem for p in (out / "thumbs").glob("*.jpg")},
    }


def test_one_plot_has_one_id_everywhere(service, marks_model, tmp_path):
    from poppyscan.field.review import Review
    from poppyscan.output_folder import verify_outputs

    mission_id = service.mission("ann", "M7")
    job_id = _job(service, mission_id, make_flight(tmp_path / "a.tif", gsd_m=0.05, plots=("P3",)))
    out = service.data.job_dir(job_id) / "out"
    (registry_id,) = [r[0] for r in sqlite3.connect(service.data.registry(_team(service))).execute(
        "SELECT target_id FROM targets")]
    assert registry_id == "NORTH-00001"
    assert verify_outputs(out) == []
    names = _names_in_outputs(out)
    assert all(v == {registry_id} for v in names.values()), names
    point = json.loads((out / "targets.geojson").read_text())["features"][0]["properties"]
    assert point["run_target_id"] == "M7-0001"  # the run's own id, kept beside
    for name in ("targets.gpx", "targets.kml", "report.html"):
        text = (out / name).read_text()
        assert registry_id in text and "M7-0001 " not in text, name
    assert "run id M7-0001" in (out / "report.html").read_text()

    review = Review.open(out)  # the review page's targets
    assert [t.target_id for t in review.targets] == [registry_id]

    pack = service.client.get(f"/api/jobs/{job_id}/field.zip", headers=service.auth("ann"))
    assert pack.status_code == 200
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        files = {n.split("/", 1)[1]: n for n in archive.namelist()}
        manifest = json.loads(archive.read(files["package.json"]))
        listing = archive.read(files["list.html"]).decode()
        thumbs = {Path(n).stem for n in files if n.startswith("thumbs/") and n.endswith(".jpg")}
    assert manifest["targets"] == [registry_id] and thumbs == {registry_id}
    assert registry_id in listing and "M7-0001" not in listing

    verdicts = ("target_id,status,visited_at,crew,note\n"
                f"{registry_id},confirmed,2026-03-12T09:00:00Z,crew 1,\n").encode()
    answer = service.client.put(f"/api/missions/{mission_id}/returns", content=verdicts,
                                headers=service.auth("ann", **{"X-Filename": "paper.csv"}))
    assert answer.status_code == 200 and answer.json()[0]["applied"] == 1

    page = service.client.get(f"/api/missions/{mission_id}/registry",
                              headers=service.auth("ann")).json()  # what the mission page shows
    assert [(t["target_id"], t["state"], t["n_verdicts"]) for t in page["targets"]] == [
        (registry_id, "confirmed", 1)]


def test_a_second_flight_without_the_plot_keeps_the_first_flights_target(
        service, marks_model, tmp_path):
    mission_id = service.mission("ann", "M8")
    _job(service, mission_id, make_flight(tmp_path / "a.tif", gsd_m=0.05, plots=("P3",)))
    second = _job(service, mission_id, make_flight(tmp_path / "b.tif", gsd_m=0.05, plots=()))
    jobs = service.client.get(f"/api/missions/{mission_id}/jobs", headers=service.auth("ann"))
    assert [(j["id"], j["targets"]) for j in jobs.json()][0] == (second, 0)
    page = service.client.get(f"/api/missions/{mission_id}/registry",
                              headers=service.auth("ann")).json()
    (target,) = page["targets"]
    assert target["state"] == "pending" and target["n_flown_not_seen"] == 1
    assert len(page["coverage"]["features"]) == 2  # both flights' coverage, for the map


def _team(service) -> str:
    from poppyscan.service.store import connect

    con = connect(service.data)
    try:
        return con.execute("SELECT id FROM teams WHERE name = 'north'").fetchone()[0]
    finally:
        con.close()
