"""The job queue: rows in SQLite, claimed by workers under a lease kept alive by heartbeats.

A job moves ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``.
A worker claims the oldest queued job, or a running one whose lease ran out or
whose worker process is gone (same host, pid not alive): that job resumes from
its detection journal. Every write by a worker names its lease, so a worker
that lost its job (lease taken over) learns so at its next write and stops.
"""

from __future__ import annotations

import json
import os
import socket

from poppyscan.service import records
from poppyscan.service.store import new_id, now, transaction

__all__ = ["MAX_ATTEMPTS", "cancel", "claim", "enqueue", "finish", "job_view", "new_owner",
           "report"]

MAX_ATTEMPTS = 5  # a job that kills its worker this many times (out of memory...) fails
STATES = ("queued", "running", "done", "failed", "cancelled")


def new_owner() -> str:
    """A worker's lease name: ``host:pid:nonce``."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


def owner_alive(owner: str | None) -> bool:
    """False only when ``owner`` ran on this host and its process is gone."""
    if not owner:
        return False
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True  # another machine's worker: trust its lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enqueue(con, team_id: str, mission_id: str, file_ids: list[str]) -> str:
    job_id = new_id()
    with transaction(con):
        con.execute("INSERT INTO jobs (id, team_id, mission_id, file_ids, state, stage, created_at) "
                    "VALUES (?, ?, ?, ?, 'queued', 'queued', ?)",
                    (job_id, team_id, mission_id, json.dumps(file_ids), now()))
        records.link_job_files(con, job_id, file_ids)
    return job_id


def claim(con, owner: str, lease_s: float):
    """Claim the next job for ``owner``: the row, or None when there is nothing to do."""
    with transaction(con):
        for job in con.execute("SELECT * FROM jobs WHERE state IN ('queued', 'running') "
                               "ORDER BY created_at").fetchall():
            if job["state"] == "running" and job["lease_until"] > now() and \
                    owner_alive(job["lease_owner"]):
                continue
            if job["cancel_requested"]:
                _end(con, job["id"], "cancelled", "cancelled")
            elif job["attempts"] >= MAX_ATTEMPTS:
                _end(con, job["id"], "failed", "failed",
                     f"gave up after {MAX_ATTEMPTS} attempts: the worker died each time")
            else:
                con.execute("UPDATE jobs SET state = 'running', stage = 'starting', "
                            "lease_owner = ?, lease_until = ?, attempts = attempts + 1, "
                            "started_at = COALESCE(started_at, ?) WHERE id = ?",
                            (owner, now() + lease_s, now(), job["id"]))
                return con.execute("SELECT * FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    return None


def report(con, job_id: str, owner: str, lease_s: float, **fields) -> tuple[bool, bool]:
    """Renew the lease and set ``fields`` (stage, chips_done, chips_total, eta_s).

    Returns ``(still ours, cancel requested)``.
    """
    sets = "".join(f", {key} = ?" for key in fields)
    with transaction(con):
        changed = con.execute(f"UPDATE jobs SET lease_until = ?{sets} WHERE id = ? AND "
                              "lease_owner = ? AND state = 'running'",
                              (now() + lease_s, *fields.values(), job_id, owner)).rowcount
        row = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return changed == 1, bool(row and row["cancel_requested"])


def finish(con, job_id: str, owner: str, state: str, error: str | None = None,
           targets: int | None = None) -> bool:
    """End a job the worker still holds; False when its lease was taken over."""
    with transaction(con):
        held = con.execute("SELECT 1 FROM jobs WHERE id = ? AND lease_owner = ? AND "
                           "state = 'running'", (job_id, owner)).fetchone()
        if held:
            _end(con, job_id, state, state, error, targets)
    return bool(held)


def cancel(con, job) -> None:
    """Cancel a queued job now; ask a running one's worker to stop after its current block."""
    with transaction(con):
        if job["state"] == "queued":
            _end(con, job["id"], "cancelled", "cancelled")
        elif job["state"] == "running":
            con.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job["id"],))


def _end(con, job_id: str, state: str, stage: str, error: str | None = None,
         targets: int | None = None) -> None:
    con.execute("UPDATE jobs SET state = ?, stage = ?, error = ?, targets = ?, finished_at = ?, "
                "lease_owner = NULL, lease_until = NULL, eta_s = NULL WHERE id = ?",
                (state, stage, error, targets, now(), job_id))


def job_view(job) -> dict:
    """A job as the API shows it: state, stage, fraction done and ETA."""
    total = job["chips_total"]
    fraction = 1.0 if job["state"] == "done" else (
        min(1.0, job["chips_done"] / total) if total else 0.0)
    return {"id": job["id"], "mission_id": job["mission_id"], "state": job["state"],
            "stage": job["stage"], "fraction": round(fraction, 4), "chips_done": job["chips_done"],
            "chips_total": total, "eta_s": job["eta_s"], "error": job["error"],
            "targets": job["targets"], "attempts": job["attempts"],
            "cancel_requested": bool(job["cancel_requested"]),
            "file_ids": json.loads(job["file_ids"]), "created_at": job["created_at"],
            "finished_at": job["finished_at"]}
