"""Ctrl-C and SIGTERM stop ``poppyscan detect`` cleanly, with one line saying how to resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.detect.marks import make_marked_raster

MARKS = [(60 + 300 * i, 60 + 300 * j, 90 + 300 * i, 90 + 300 * j) for i in range(7) for j in range(7)]


def _blocks_done(out) -> int:
    path = out / ".poppyscan" / "journal.sqlite"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
    except sqlite3.Error:
        return 0


def _detect(ortho, out, model):
    return [sys.executable, "-m", "poppyscan", "detect", str(ortho), "--out", str(out), "--model",
            str(model), "--device", "cpu", "--batch-size", "4", "--workers", "2", "--mission", "S"]


def _stop_after_a_block(cmd, out, signum) -> subprocess.CompletedProcess:
    """Run ``cmd``; send ``signum`` once it has journalled one more block."""
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    before = _blocks_done(out)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while proc.poll() is None and _blocks_done(out) <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before it could be stopped: {proc.communicate()}")
    proc.send_signal(signum)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"no exit 120 s after signal {signum}: {stderr[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_sigterm_and_ctrl_c_stop_cleanly_and_the_rerun_resumes(untrained_bundle, tmp_path):
    ortho = make_marked_raster(tmp_path / "ortho.tif", (2400, 2400), MARKS)
    out, clean = tmp_path / "out", tmp_path / "clean"
    for signum in (signal.SIGTERM, signal.SIGINT):
        stopped = _stop_after_a_block(_detect(ortho, out, untrained_bundle.path), out, signum)
        assert stopped.returncode == 130, stopped.stderr
        last = stopped.stderr.strip().splitlines()[-1]
        assert last.startswith("Interrupted: ") and last.endswith("run the same command again to resume")
        assert "Traceback" not in stopped.stderr and not (out / "run.json").exists()
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    resumed = subprocess.run(_detect(ortho, out, untrained_bundle.path), env=env, capture_output=True,
                             text=True, check=True)
    assert "chip blocks came from the journal" in resumed.stdout
    subprocess.run(_detect(ortho, clean, untrained_bundle.path), env=env, capture_output=True,
                   check=True)
    targets = [json.loads((d / "targets.geojson").read_text())["features"] for d in (out, clean)]
    assert [f["geometry"] for f in targets[0]] == [f["geometry"] for f in targets[1]]
    assert [f["properties"]["target_id"] for f in targets[0]] == [
        f["properties"]["target_id"] for f in targets[1]]
