"""The service's API end to end in one process: accounts, tus uploads, jobs, results, registry."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile

from tests.service.conftest import TUS


def test_login_sets_a_strict_http_only_session(service):
    password = service.secrets["ann"][0]
    answer = service.client.post("/api/session", json={"name": "ann", "password": password})
    assert answer.status_code == 204
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert service.client.get("/api/me").json() == {"name": "ann", "team": "north"}
    assert service.client.get("/").status_code == 200  # the missions page, logged in
    assert service.client.delete("/api/session").status_code == 204
    assert service.client.get("/api/me").status_code == 401


def test_wrong_password_and_unknown_user_answer_alike(service):
    for name, password in (("ann", "wrong"), ("nobody", "wrong")):
        answer = service.client.post("/api/session", json={"name": name, "password": password})
        assert (answer.status_code, answer.json()) == (401, {"detail": "wrong user name or password"})


def test_passwords_and_tokens_are_stored_only_as_hashes(service):
    db = sqlite3.connect(service.data.db)
    hashes = [r[0] for r in db.execute("SELECT password_hash FROM users UNION ALL "
                                       "SELECT secret_hash FROM tokens")]
    db.close()
    assert len(hashes) == 4 and all(h.startswith("scrypt$16384$8$1$") for h in hashes[:2])
    assert all(h.startswith("hmac-sha256$") for h in hashes[2:])  # keyed: secret.key
    stored = b"".join(p.read_bytes() for p in service.data.root.glob("state.sqlite*"))
    for password, token in service.secrets.values():
        secret = token.split("_", 2)[2]  # pst_<id>_<secret>; the secret may hold "_" itself
        assert password.encode() not in stored and secret.encode() not in stored


def test_tus_upload_resumes_from_the_offset_head_reports(service, survey):
    mission_id = service.mission("ann")
    body = survey.read_bytes()
    options = service.client.options("/api/uploads")
    assert options.headers["tus-extension"] == "creation,termination"
    assert options.headers["tus-max-size"] == str(8 << 20)
    created = service.create_upload("ann", mission_id, len(body))
    location = created.headers["location"]
    assert created.status_code == 201 and location.startswith("/api/uploads/")
    assert service.patch("ann", location, 0, body[:1000]).headers["upload-offset"] == "1000"
    head = service.client.head(location, headers=service.auth("ann", **TUS))
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("1000", str(len(body)))
    assert head.headers["cache-control"] == "no-store"
    stale = service.patch("ann", location, 0, body[:1000])  # a retry of a request that arrived
    assert stale.status_code == 409
    assert service.patch("ann", location, 1000, body[1000:]).headers["upload-offset"] == str(len(body))
    file = service.client.get(f"/api/files/{location.rsplit('/', 1)[1]}",
                              headers=service.auth("ann")).json()
    assert (file["state"], file["name"], file["error"]) == ("ready", "ortho.tif", None)
    west, south, east, north = file["bounds"]
    assert west < east and south < north
    stored = service.data.file_dir(file["id"]) / "ortho.tif"
    assert stored.read_bytes() == body  # the orthomosaic itself, unchanged


def test_tus_requires_its_version_header_and_content_type(service):
    mission_id = service.mission("ann")
    created = service.client.post("/api/uploads", headers=service.auth(
        "ann", **{"Upload-Length": "10", "Upload-Metadata": ""}))
    assert created.status_code == 412 and created.headers["tus-version"] == "1.0.0"
    location = service.create_upload("ann", mission_id, 10).headers["location"]
    wrong_type = service.client.patch(location, content=b"0123456789", headers=service.auth(
        "ann", **TUS, **{"Upload-Offset": "0", "Content-Type": "application/octet-stream"}))
    assert wrong_type.status_code == 415
    too_long = service.patch("ann", location, 0, b"0" * 15)
    assert (too_long.status_code, too_long.headers["upload-offset"]) == (413, "10")


def test_deleting_an_upload_removes_its_bytes(service):
    mission_id = service.mission("ann")
    location = service.create_upload("ann", mission_id, 100).headers["location"]
    service.patch("ann", location, 0, b"x" * 40)
    file_id = location.rsplit("/", 1)[1]
    assert service.data.file_dir(file_id).exists()
    assert service.client.delete(location, headers=service.auth("ann", **TUS)).status_code == 204
    assert not service.data.file_dir(file_id).exists()
    assert service.client.head(location, headers=service.auth("ann", **TUS)).status_code == 404


def test_a_job_runs_to_targets_outputs_field_package_and_registry(finished):
    service, ids = finished
    job = service.client.get(f"/api/jobs/{ids['job_id']}", headers=service.auth("ann")).json()
    assert (job["state"], job["stage"], job["fraction"], job["error"]) == ("done", "done", 1.0, None)
    assert job["chips_done"] == job["chips_total"] == 25
    listing = service.client.get(f"/api/jobs/{ids['job_id']}/outputs",
                                 headers=service.auth("ann")).json()["files"]
    names = {f["path"] for f in listing}
    assert {"run.json", "targets.geojson", "targets.gpkg", "targets.gpx", "targets.kml",
            "plots.geojson", "coverage.geojson", "report.html"} <= names
    targets = service.client.get(f"/api/jobs/{ids['job_id']}/outputs/targets.geojson",
                                 headers=service.auth("ann")).json()["features"]
    assert len(targets) == job["targets"] >= 1
    assert all(f"thumbs/{t['properties']['target_id']}.jpg" in names for t in targets)
    # Named by the team's registry, the run's own id kept beside (one name per plot).
    assert (targets[0]["properties"]["target_id"],
            targets[0]["properties"]["run_target_id"]) == ("NORTH-00001", "M1-0001")
    package = service.client.get(f"/api/jobs/{ids['job_id']}/field.zip",
                                 headers=service.auth("ann"))
    members = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
    assert any(m.endswith(".qgz") for m in members) and any(m.endswith("field.gpkg")
                                                            for m in members)
    qr = service.client.get(f"/api/jobs/{ids['job_id']}/field-qr.svg", headers=service.auth("ann"))
    assert qr.headers["content-type"] == "image/svg+xml" and b"<svg" in qr.content
    assert qr.headers["x-package-link"] == f"http://127.0.0.1/jobs/{ids['job_id']}/field"
    status = service.client.get(f"/api/missions/{ids['mission_id']}/registry",
                                headers=service.auth("ann")).json()
    assert [(m["mission"], m["runs"], m["targets"]) for m in status["missions"]] == \
        [("M1", 1, len(targets))]


def test_a_tile_of_the_map_is_a_png_of_the_orthomosaic(finished):
    import math

    import cv2
    import numpy as np

    service, ids = finished
    file = service.client.get(f"/api/files/{ids['file_id']}", headers=service.auth("ann")).json()
    west, south, east, north = file["bounds"]
    z = 22  # 8 m tiles inside a 25 m survey
    x = int((west + east) / 2 / 360 * 2**z + 2**z / 2)
    lat = math.radians((south + north) / 2)
    y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * 2**z)
    tile = service.client.get(f"/api/files/{ids['file_id']}/tiles/{z}/{x}/{y}.png",
                              headers=service.auth("ann"))
    image = cv2.imdecode(np.frombuffer(tile.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (256, 256, 4) and (image[:, :, 3] > 0).mean() > 0.9
    assert image[:, :, :3].std() > 10  # imagery, not a flat fill
    far = service.client.get(f"/api/files/{ids['file_id']}/tiles/3/0/0.png",
                             headers=service.auth("ann"))
    far_image = cv2.imdecode(np.frombuffer(far.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert far.status_code == 200 and far_image[:, :, 3].max() == 0  # transparent, not an error


def test_crews_returned_verdicts_reach_the_registry(finished):
    service, ids = finished
    status = service.client.get(f"/api/missions/{ids['mission_id']}/registry",
                                headers=service.auth("ann")).json()
    target_id = status["targets"][0]["target_id"]
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["target_id", "status", "visited_at"])
    writer.writerow([target_id, "false_positive", "2026-11-20T09:00:00Z"])
    body = rows.getvalue().encode()
    answer = service.client.put(f"/api/missions/{ids['mission_id']}/returns", content=body,
                                headers=service.auth("ann", **{"X-Filename": "crew1.csv"}))
    assert answer.status_code == 200, answer.text
    assert [(s["applied"], s["already"]) for s in answer.json()] == [(1, False)]
    again = service.client.put(f"/api/missions/{ids['mission_id']}/returns", content=body,
                               headers=service.auth("ann", **{"X-Filename": "crew1.csv"}))
    assert [s["already"] for s in again.json()] == [True]
    status = service.client.get(f"/api/missions/{ids['mission_id']}/registry",
                                headers=service.auth("ann")).json()
    assert status["missions"][0]["states"]["false_positive"] == 1


def test_cancel_a_queued_job_and_jobs_need_checked_files(service, survey):
    mission_id = service.mission("ann")
    refused = service.client.post(f"/api/missions/{mission_id}/jobs", json={},
                                  headers=service.auth("ann"))
    assert refused.status_code == 409
    service.upload("ann", mission_id, survey.read_bytes())
    job = service.client.post(f"/api/missions/{mission_id}/jobs", json={},
                              headers=service.auth("ann")).json()
    cancelled = service.client.post(f"/api/jobs/{job['id']}/cancel", headers=service.auth("ann"))
    assert (cancelled.json()["state"], cancelled.json()["stage"]) == ("cancelled", "cancelled")
    assert service.run_jobs() == 0


def test_mission_names_are_checked_and_unique_per_team(service):
    assert service.client.post("/api/missions", json={"name": "../x"},
                               headers=service.auth("ann")).status_code == 422
    service.mission("ann", "M7")
    assert service.client.post("/api/missions", json={"name": "M7"},
                               headers=service.auth("ann")).status_code == 409
    service.mission("bob", "M7")  # another team may use the same name
    names = [m["name"] for m in service.client.get("/api/missions",
                                                   headers=service.auth("bob")).json()]
    assert names == ["M7"]


def test_run_json_of_a_job_names_the_mission_and_the_model(finished):
    service, ids = finished
    run = json.loads(service.client.get(f"/api/jobs/{ids['job_id']}/outputs/run.json",
                                        headers=service.auth("ann")).content)
    assert run["settings"]["mission"] == "M1"
    assert run["model"]["model_id"] == service.bundle.model_id
