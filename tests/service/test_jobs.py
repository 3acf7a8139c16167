"""The job queue: leases, take-over of a dead worker's job, cancel, attempts, progress."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from poppyscan.service import jobs
from poppyscan.service.store import DataDir, connect, new_id, transaction
from poppyscan.service.worker import JobProgress, JobStopped


@pytest.fixture
def data(tmp_path) -> DataDir:
    return DataDir(tmp_path / "data").create()


@pytest.fixture
def con(data):
    con = connect(data)
    with transaction(con):
        con.execute("INSERT INTO teams VALUES ('t', 'north')")
        con.execute("INSERT INTO missions VALUES ('m', 't', 'M1', 0)")
    yield con
    con.close()


def _dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:dead"


def test_jobs_are_claimed_oldest_first_and_once(con):
    first, second = (jobs.enqueue(con, "t", "m", [new_id()]) for _ in range(2))
    a, b = jobs.new_owner(), jobs.new_owner()
    assert jobs.claim(con, a, 60)["id"] == first
    assert jobs.claim(con, b, 60)["id"] == second
    assert jobs.claim(con, b, 60) is None  # both leases are live, their owner (us) alive


def test_a_dead_workers_job_is_taken_over_at_once(con):
    job_id = jobs.enqueue(con, "t", "m", [new_id()])
    dead = _dead_owner()
    assert jobs.claim(con, dead, 3600)["id"] == job_id
    taken = jobs.claim(con, jobs.new_owner(), 60)
    assert (taken["id"], taken["attempts"]) == (job_id, 2)
    assert jobs.finish(con, job_id, dead, "done") is False  # the old owner lost it


def test_an_expired_lease_of_another_host_is_taken_over(con):
    job_id = jobs.enqueue(con, "t", "m", [new_id()])
    assert jobs.claim(con, "elsewhere:1:x", -1)["id"] == job_id  # lease already over
    assert jobs.claim(con, jobs.new_owner(), 60)["id"] == job_id


def test_a_job_killing_its_workers_fails_after_max_attempts(con):
    job_id = jobs.enqueue(con, "t", "m", [new_id()])
    for _ in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim(con, _dead_owner(), 60)["id"] == job_id
    assert jobs.claim(con, jobs.new_owner(), 60) is None
    row = con.execute("SELECT state, error FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row["state"] == "failed" and "gave up after 5 attempts" in row["error"]


def test_progress_renews_the_lease_and_a_cancel_stops_the_run(con, data):
    job_id = jobs.enqueue(con, "t", "m", [new_id()])
    owner = jobs.new_owner()
    jobs.claim(con, owner, 60)
    progress = JobProgress(data, job_id, owner, 60)
    progress.start(100)
    progress.advance(40)
    row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert jobs.job_view(row)["fraction"] == 0.4 and row["stage"] == "detecting"
    jobs.cancel(con, row)
    with pytest.raises(JobStopped, match="cancelled"):
        progress.advance(8)
    assert con.execute("SELECT chips_done FROM jobs WHERE id = ?", (job_id,)).fetchone()[0] == 48


def test_a_queued_job_cancels_at_once(con):
    job_id = jobs.enqueue(con, "t", "m", [new_id()])
    jobs.cancel(con, con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
    assert jobs.claim(con, jobs.new_owner(), 60) is None
    assert con.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0] == "cancelled"
