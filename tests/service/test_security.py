"""Security: no entry without login, no crossing between teams, no path from a request, no VRT."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from fastapi.routing import APIRoute

from poppyscan.service.api_results import REPORT_CSP
from tests.service.conftest import TUS

# (A bare ".." never reaches the server: HTTP clients resolve dot segments, as browsers do.)
TRAVERSALS = ("../../state.sqlite", "..%2F..%2Fstate.sqlite", "%2e%2e%2f%2e%2e",
              "/etc/passwd", "....//....//etc", "0" * 31 + "g")


def _routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every API route and page of the app's routers."""
    from poppyscan.service import api_missions, api_registry, api_results, pages, tus

    routes = [route for module in (api_missions, api_registry, api_results, pages, tus)
              for route in module.router.routes if isinstance(route, APIRoute)]
    return [(method, route.path) for route in routes
            for method in sorted(route.methods - {"HEAD"}) or ["HEAD"]]


def _client(service, user: str):
    """A client logged in as ``user`` twice over: session cookie (pages) and token (API)."""
    from fastapi.testclient import TestClient

    client = TestClient(service.app, base_url="http://127.0.0.1", follow_redirects=False)
    password = service.secrets[user][0]
    assert client.post("/api/session", json={"name": user, "password": password}).status_code == 204
    client.headers.update(service.auth(user, **TUS, **{"X-Filename": "a.csv"}))
    return client


def _fill(template: str, ids: dict, **overrides: str) -> str:
    values = {"mission_id": ids["mission_id"], "file_id": ids["file_id"], "job_id": ids["job_id"],
              "z": "20", "x": "0", "y": "0", "path": "run.json", **overrides}
    for key, value in values.items():
        template = template.replace(f"{{{key}}}", value).replace(f"{{{key}:path}}", value)
    return template


def test_every_route_refuses_requests_without_login(finished):
    service, ids = finished
    open_routes = {("POST", "/api/session"), ("DELETE", "/api/session"), ("GET", "/login"),
                   ("OPTIONS", "/api/uploads"), ("GET", "/favicon.ico")}
    checked = 0
    for method, template in _routes(service.app):
        if (method, template) in open_routes:
            continue
        answer = service.client.request(method, _fill(template, ids), headers=TUS,
                                        follow_redirects=False)
        if template.startswith("/api/"):
            assert answer.status_code == 401, (method, template, answer.status_code)
        else:  # pages send the browser to the login page
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        checked += 1
    assert checked >= 25


def test_a_token_in_the_query_string_is_not_a_login(finished):
    service, _ = finished
    token = service.secrets["ann"][1]
    for query in (f"token={token}", f"access_token={token}", f"authorization=Bearer%20{token}"):
        assert service.client.get(f"/api/me?{query}").status_code == 401
    assert service.client.get("/api/me", headers={"Authorization": token}).status_code == 401
    assert service.client.get("/api/me", headers={"Authorization": "Bearer pst_x_y"}).status_code == 401


def test_another_teams_ids_answer_404_on_every_route(finished):
    service, ids = finished
    checked, bob = [], _client(service, "bob")
    for method, template in _routes(service.app):
        if not any(key in template for key in ("{mission_id}", "{file_id}", "{job_id}")):
            continue
        answer = bob.request(method, _fill(template, ids),
                             content=b"x" if method in ("PATCH", "PUT") else None)
        assert answer.status_code == 404, (method, template, answer.status_code, answer.text)
        checked.append(template)
    for must in ("/api/missions/{mission_id}", "/api/files/{file_id}/tiles/{z}/{x}/{y}.png",
                 "/api/jobs/{job_id}/outputs/{path:path}", "/api/jobs/{job_id}/field.zip",
                 "/api/uploads/{file_id}", "/missions/{mission_id}"):
        assert must in checked
    # ... and the owner still sees them (nothing was changed by the attempts)
    assert service.client.get(f"/api/jobs/{ids['job_id']}", headers=service.auth("ann")).json()[
        "state"] == "done"
    assert service.client.get("/api/missions", headers=service.auth("bob")).json() == []


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_path_traversal_in_every_path_parameter_is_404(finished, bad):
    service, ids = finished
    ann = _client(service, "ann")
    for method, template in _routes(service.app):
        params = [k for k in ("mission_id", "file_id", "job_id", "path") if f"{{{k}" in template]
        for param in params:
            url = _fill(template, ids, **{param: bad})
            answer = ann.request(method, url, content=b"x" if method in ("PATCH", "PUT") else None)
            assert answer.status_code in (404, 405), (method, url, answer.status_code)
            assert b"SQLite format" not in answer.content and b"root:" not in answer.content
    for url in ("/static/../service/store.py", "/static/..%2Fstore.py", "/static/%2e%2e/app.py"):
        assert service.client.get(url).status_code == 404


def test_path_traversal_in_upload_headers(service):
    mission_id = service.mission("ann")
    created = service.create_upload("ann", mission_id, 10, name="../../../state.sqlite")
    file_id = created.headers["location"].rsplit("/", 1)[1]
    row = service.client.get(f"/api/files/{file_id}", headers=service.auth("ann")).json()
    assert row["name"] == "state_sqlite.tif"  # a name, inside the file's own folder
    assert service.create_upload("ann", "../" + mission_id, 10).status_code == 404
    for offset in ("-1", "1e3", "../5", ""):
        answer = service.client.patch(created.headers["location"], content=b"x", headers=service.auth(
            "ann", **TUS, **{"Upload-Offset": offset,
                             "Content-Type": "application/offset+octet-stream"}))
        assert answer.status_code == 400, offset
    for length in ("-5", "../1", "10; rm", ""):
        answer = service.client.post("/api/uploads", headers=service.auth(
            "ann", **TUS, **{"Upload-Length": length, "Upload-Metadata": ""}))
        assert answer.status_code == 400, length


def test_an_upload_over_the_limit_is_refused_before_anything_is_stored(service):
    mission_id = service.mission("ann")
    files_dir = service.data.root / "files"
    too_big = service.create_upload("ann", mission_id, (8 << 20) + 1)
    assert too_big.status_code == 413 and "over the limit" in too_big.json()["detail"]
    assert service.create_upload("ann", mission_id, 7 << 20).status_code == 201
    over_quota = service.create_upload("ann", mission_id, 6 << 20)  # 13 MiB > 12 MiB quota
    assert over_quota.status_code == 413 and "quota" in over_quota.json()["detail"]
    assert len(list(files_dir.iterdir())) == 1  # only the accepted one has a folder
    other_team = service.create_upload("bob", service.mission("bob"), 6 << 20)
    assert other_team.status_code == 201  # quotas are per team


def _vrt(path_named: str) -> bytes:
    return (f'<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand dataType="Byte" band="1">'
            f'<SimpleSource><SourceFilename>{path_named}</SourceFilename><SourceBand>1</SourceBand>'
            '</SimpleSource></VRTRasterBand></VRTDataset>').encode()


@pytest.mark.parametrize("kind", ["vrt", "png", "tiff header on a vrt", "empty tiff"])
def test_a_vrt_or_a_non_tiff_upload_is_refused_and_deleted(service, kind):
    body = {"vrt": _vrt("/etc/passwd"),
            "png": cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes(),
            "tiff header on a vrt": b"II*\x00" + _vrt(str(service.data.db)),
            "empty tiff": b"II*\x00" + b"\x00" * 60}[kind]
    mission_id = service.mission("ann")
    file = service.upload("ann", mission_id, body, name="flight.tif")
    assert file["state"] == "rejected"
    assert file["error"].startswith("flight.tif: ")
    assert ("not a GeoTIFF" in file["error"]) == (kind in ("vrt", "png"))
    assert str(service.data.root) not in file["error"]  # no server path in the message
    assert list(service.data.file_dir(file["id"]).iterdir()) == []  # the bytes are gone
    refused = service.client.post(f"/api/missions/{mission_id}/jobs", json={"file_ids": [file["id"]]},
                                  headers=service.auth("ann"))
    assert refused.status_code == 409


def test_returned_packages_are_checked_by_content(finished):
    service, ids = finished
    url = f"/api/missions/{ids['mission_id']}/returns"
    fake = {"crew.gpkg": b"not sqlite", "crew.zip": b"not a zip",
            "crew.gpx": b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd'
                        b'</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>'}
    for name, body in fake.items():
        answer = service.client.put(url, content=body,
                                    headers=service.auth("ann", **{"X-Filename": name}))
        assert answer.status_code == 415, name
    assert service.client.put(url, content=b"x", headers=service.auth(
        "ann", **{"X-Filename": "crew.exe"})).status_code == 415
    kept = {p.suffix for p in (service.data.team_dir(_team(service)) / "returns").glob("*")}
    assert kept <= {".csv"}  # refused files are not kept (the API test's CSV import is)


def _team(service) -> str:
    import sqlite3

    db = sqlite3.connect(service.data.db)
    try:
        return db.execute("SELECT id FROM teams WHERE name = 'north'").fetchone()[0]
    finally:
        db.close()


def test_every_response_carries_the_content_security_policy(finished):
    service, ids = finished
    for url, headers in (("/login", {}), ("/static/app.css", {}), ("/static/vendor/leaflet/leaflet.js", {}),
                         ("/api/me", {}), ("/no/such/page", {}),
                         (f"/api/jobs/{ids['job_id']}/outputs/targets.geojson", service.auth("ann")),
                         (f"/api/files/{ids['file_id']}/tiles/3/0/0.png", service.auth("ann"))):
        answer = service.client.get(url, headers=headers)
        assert answer.headers["content-security-policy"].startswith("default-src 'self'"), url
        assert answer.headers["x-content-type-options"] == "nosniff"
    report = service.client.get(f"/api/jobs/{ids['job_id']}/outputs/report.html",
                                headers=service.auth("ann"))
    assert report.headers["content-security-policy"] == REPORT_CSP
    assert "default-src 'self'" in REPORT_CSP and "sandbox" in REPORT_CSP


def test_pages_load_nothing_from_other_sites():
    from poppyscan.service.pages import STATIC

    for page in [*STATIC.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")]:
        text = page.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, page
        assert " style=" not in text and "onclick" not in text, page  # CSP blocks inline code


def test_a_cross_site_change_with_the_session_cookie_is_refused(service):
    password = service.secrets["ann"][0]
    service.client.post("/api/session", json={"name": "ann", "password": password})
    evil = service.client.post("/api/missions", json={"name": "X1"},
                               headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    same = service.client.post("/api/missions", json={"name": "X1"},
                               headers={"Origin": "http://127.0.0.1"})
    assert same.status_code == 201


def test_the_web_process_cannot_open_a_vrt(tmp_path):
    """With the service's GDAL_SKIP, GDAL refuses a VRT (raster) and an OGR VRT (vector)."""
    import rasterio
    from affine import Affine

    tif = tmp_path / "a.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
                       crs="EPSG:32647", transform=Affine(1, 0, 5e5, 0, -1, 2e6)) as dst:
        dst.write(np.ones((1, 10, 10), np.uint8))
    (tmp_path / "a.vrt").write_bytes(_vrt(str(tif)))
    (tmp_path / "b.vrt").write_text(f'<OGRVRTDataSource><OGRVRTLayer name="b"><SrcDataSource>'
                                    f'{tmp_path / "c.csv"}</SrcDataSource><SrcLayer>c</SrcLayer></OGRVRTLayer>'
                                    '</OGRVRTDataSource>')
    (tmp_path / "c.csv").write_text("x,y\n1,2\n")
    script = f"""
from poppyscan.service.gdal_env import apply_gdal_env
apply_gdal_env()
import pyogrio, rasterio
for open_ in (lambda: rasterio.open({str(tmp_path / 'a.vrt')!r}),
              lambda: pyogrio.read_info({str(tmp_path / 'b.vrt')!r})):
    try:
        open_()
        print("opened")
    except Exception:
        print("refused")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["refused", "refused"]
    control = subprocess.run([sys.executable, "-c", script.replace("apply_gdal_env()", "")],
                             capture_output=True, text=True, check=True)
    assert control.stdout.split() == ["opened", "opened"]  # the same files open without it
