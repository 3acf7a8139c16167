"""Fixtures of the service tests: an app over a temporary data folder, two teams, uploads."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import pytest

SERVE_EXTRA = ("fastapi", "httpx", "segno", "uvicorn")
if not all(importlib.util.find_spec(m) for m in SERVE_EXTRA):
    collect_ignore_glob = ["test_*.py"]  # pip install '.[serve]' to run them

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory):
    """Random YOLO11n weights on a 128 px grid (plumbing only: finds noise, reproducibly)."""
    from poppyscan.detect.bundle import write_untrained_bundle

    return write_untrained_bundle(tmp_path_factory.mktemp("bundle"), tile_px=128, overlap_px=32,
                                  conf=0.01)


@pytest.fixture(scope="session")
def survey(tmp_path_factory) -> Path:
    """A 512 x 512 px synthetic survey at 5 cm: 25 chips of the small bundle, one block."""
    from poppyscan.synth import generate_survey

    out = tmp_path_factory.mktemp("survey")
    return Path(generate_survey(out, seed=5, size_px=(512, 512), gsd_m=0.05,
                                overwrite=True).ortho_path)


class Service:
    """An app with users ann (team north) and bob (team south), driven through TestClient."""

    def __init__(self, root: Path, bundle, **limits) -> None:
        from fastapi.testclient import TestClient

        from poppyscan.service.app import create_app
        from poppyscan.service.auth import add_user
        from poppyscan.service.store import DataDir, ServiceSettings

        settings = ServiceSettings(**{"min_free_bytes": 0, **limits})
        self.bundle, self.settings = bundle, settings
        self.app = create_app(root / "data", model=bundle.path, settings=settings)
        self.data = DataDir(root / "data")
        self.client = TestClient(self.app, base_url="http://127.0.0.1")
        self.secrets = {}
        for name, team in (("ann", "north"), ("bob", "south")):
            _, password, token = add_user(self.data, name, team)
            self.secrets[name] = (password, token)

    def auth(self, user: str, **headers: str) -> dict:
        return {"Authorization": f"Bearer {self.secrets[user][1]}", **headers}

    def mission(self, user: str, name: str = "M1") -> str:
        answer = self.client.post("/api/missions", json={"name": name}, headers=self.auth(user))
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def create_upload(self, user: str, mission_id: str, length: int, name: str = "ortho.tif"):
        meta = f"filename {_b64(name)},mission {_b64(mission_id)}"
        return self.client.post("/api/uploads", headers=self.auth(
            user, **TUS, **{"Upload-Length": str(length), "Upload-Metadata": meta}))

    def patch(self, user: str, location: str, offset: int, body: bytes):
        return self.client.patch(location, content=body, headers=self.auth(
            user, **TUS, **{"Upload-Offset": str(offset),
                            "Content-Type": "application/offset+octet-stream"}))

    def upload(self, user: str, mission_id: str, body: bytes, name: str = "ortho.tif") -> dict:
        """Upload ``body`` in two PATCH requests; the file row after its checks."""
        created = self.create_upload(user, mission_id, len(body), name)
        assert created.status_code == 201, created.text
        location, half = created.headers["location"], len(body) // 2
        assert self.patch(user, location, 0, body[:half]).status_code == 204
        assert self.patch(user, location, half, body[half:]).status_code == 204
        file_id = location.rsplit("/", 1)[1]
        return self.client.get(f"/api/files/{file_id}", headers=self.auth(user)).json()

    def run_jobs(self) -> int:
        """Run every queued job in this process; how many ran."""
        from poppyscan.service.worker import Worker

        worker = Worker(self.data, model=self.bundle.path, device="cpu", settings=self.settings)
        ran = 0
        while worker.run_next():
            ran += 1
        return ran


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def service(tmp_path, small_bundle) -> Service:
    return Service(tmp_path, small_bundle, max_upload_bytes=8 << 20, team_quota_bytes=12 << 20)


@pytest.fixture(scope="session")
def finished(tmp_path_factory, small_bundle, survey) -> tuple[Service, dict]:
    """A service where ann's team ran one job to the end: (service, ids of its objects)."""
    service = Service(tmp_path_factory.mktemp("finished"), small_bundle)
    mission_id = service.mission("ann")
    file = service.upload("ann", mission_id, survey.read_bytes())
    assert file["state"] == "ready", file
    job = service.client.post(f"/api/missions/{mission_id}/jobs", json={},
                              headers=service.auth("ann")).json()
    assert service.run_jobs() == 1
    return service, {"mission_id": mission_id, "file_id": file["id"], "job_id": job["id"]}
