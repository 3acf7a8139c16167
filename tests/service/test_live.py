"""Real processes: ``poppyscan upload --out`` against ``poppyscan serve``, and a worker SIGKILLed mid-job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.live import LiveService, add_user, env

pytestmark = pytest.mark.slow


def _targets(out: Path) -> list:
    features = json.loads((out / "targets.geojson").read_text())["features"]
    return [(f["properties"]["target_id"], f["properties"]["conf"], f["properties"]["area_m2"],
             f["geometry"]["coordinates"], f["properties"]["sources"]) for f in features]


def _files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and ".poppyscan" not in p.parts)


def _counts(run_dir: Path) -> dict:
    """run.json's counts, per source by position (the server stores files under its own paths)."""
    counts = json.loads((run_dir / "run.json").read_text())["counts"]
    return {**counts, "per_source": list(counts["per_source"].values())}


def _local_detect(ortho: Path, out: Path, bundle, mission: str):
    """Detect as the service does: into a fresh registry of team north (targets NORTH-00001...)."""
    import poppyscan.api as ps

    return ps.detect([ortho], out, model=bundle, device="cpu", mission=mission,
                     registry=out.parent / "north.gpkg")


@pytest.fixture(scope="module")
def live(tmp_path_factory, small_bundle):
    root = tmp_path_factory.mktemp("live")
    password, token = add_user(root / "data", "ann", "north")
    service = LiveService(root / "data", root / "cache", model=small_bundle.path)
    yield service, token, root
    service.stop()


def test_upload_out_writes_what_a_local_detect_writes(live, survey, small_bundle, tmp_path):
    service, token, root = live
    done = subprocess.run([sys.executable, "-m", "poppyscan", "upload", str(survey), "--server",
                           service.url, "--token", token, "--mission", "M1", "--out",
                           str(tmp_path / "served")], capture_output=True, text=True,
                          env=env(root / "cache"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "files in" in done.stdout
    _local_detect(survey, tmp_path / "local", small_bundle, "M1")
    assert _files(tmp_path / "served") == _files(tmp_path / "local")
    assert _targets(tmp_path / "served") == _targets(tmp_path / "local")
    assert _counts(tmp_path / "served") == _counts(tmp_path / "local")


def test_a_wrong_token_is_one_clear_line_and_a_failure(live, survey):
    service, _, root = live
    done = subprocess.run([sys.executable, "-m", "poppyscan", "upload", str(survey), "--server",
                           service.url, "--token", "pst_" + "0" * 32 + "_" + "x" * 43,
                           "--mission", "M1"], capture_output=True, text=True,
                          env=env(root / "cache"), timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"Error: {service.url}: the service refused the token; check --token "
        "(`poppyscan users add` prints one)"]


def test_a_worker_killed_mid_job_is_resumed_by_the_restarted_service(tmp_path, small_bundle):
    """SIGKILL the worker after its first chip block: the restarted service finishes the job
    from the journal, with the targets of a clean run."""
    from poppyscan.service.client import ServiceClient
    from poppyscan.synth import generate_survey

    survey = Path(generate_survey(tmp_path / "survey", seed=11, size_px=(1024, 256), gsd_m=0.05,
                                  overwrite=True).ortho_path)  # 11 x 3 chips: two blocks
    _, token = add_user(tmp_path / "data", "ann", "north")
    first = LiveService(tmp_path / "data", tmp_path / "cache", model=small_bundle.path)
    client = ServiceClient(first.url, token)
    mission = client.mission("K1")
    file_id = client.upload(survey, mission["id"])
    client.wait_file(file_id)
    job_id = client.start_job(mission["id"], [file_id])["id"]
    client.close()
    state = sqlite3.connect(tmp_path / "data" / "state.sqlite", timeout=60, isolation_level=None)
    job = _wait(lambda: state.execute("SELECT state, lease_owner FROM jobs WHERE id = ?",
                                      (job_id,)).fetchone(), lambda row: row[0] == "running")
    # Hold the write lock: the worker journals its first block, then waits to report progress.
    state.execute("BEGIN IMMEDIATE")
    out = tmp_path / "data" / "jobs" / job_id / "out"
    _wait(lambda: _journalled_blocks(out), lambda blocks: blocks >= 1)
    worker_pid = int(job[1].split(":")[1])
    os.kill(worker_pid, signal.SIGKILL)
    assert _journalled_blocks(out) == 1 and not (out / "run.json").exists()  # truly mid-job
    first.proc.send_signal(signal.SIGKILL)  # the whole service goes down hard
    first.proc.wait()
    first.stop()
    state.execute("ROLLBACK")
    state.close()

    second = LiveService(tmp_path / "data", tmp_path / "cache", model=small_bundle.path)
    try:
        client = ServiceClient(second.url, token)
        job = _wait(lambda: client.request("GET", f"/api/jobs/{job_id}").json(),
                    lambda j: j["state"] in ("done", "failed"), limit_s=300)
        client.close()
    finally:
        second.stop()
    assert (job["state"], job["error"], job["attempts"]) == ("done", None, 2)
    run = json.loads((out / "run.json").read_text())
    assert run["extra"]["blocks_resumed"] == 1
    clean_dir = tmp_path / "clean"
    shutil.copy(survey, tmp_path / "ortho.tif")
    clean = _local_detect(tmp_path / "ortho.tif", clean_dir, small_bundle, "K1")
    assert _targets(out) == _targets(clean_dir) and len(clean.targets) >= 1
    assert _counts(out) == _counts(clean_dir)  # no detection lost or counted twice


def _journalled_blocks(out: Path) -> int:
    path = out / ".poppyscan" / "journal.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def _wait(read, done, *, limit_s: float = 120.0, every_s: float = 0.02):
    """Poll ``read()`` until ``done(value)``; bounded."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = read()
        if value is not None and done(value):
            return value
        time.sleep(every_s)
    raise AssertionError(f"still not there after {limit_s} s: {value}")
