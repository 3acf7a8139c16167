"""The state database's missions, files and the jobs' links to them: every query the routes need.

Route handlers and background tasks call these instead of holding SQL, so each
query has one home beside the schema (:mod:`poppyscan.service.store`). A job
names its files in ``job_files`` (one row a file, in the order asked for), so
"which jobs use this file" is an exact join, never a substring match.
"""

from __future__ import annotations

import json
import sqlite3

from poppyscan.service.store import now

__all__ = [
    "active_jobs_using", "add_file", "add_mission", "delete_file", "delete_mission",
    "expired_uploads", "file_name", "file_row", "files_by_id", "files_in_state", "job_file_ids",
    "last_jobs", "link_job_files", "mission_and_team", "mission_files", "mission_in_use",
    "mission_jobs", "mission_named", "ready_file_ids", "record_check", "reject_files",
    "reserved_bytes", "set_offset", "team_missions", "team_usage", "used_pixels",
]


def team_missions(con: sqlite3.Connection, team_id: str) -> list[sqlite3.Row]:
    return con.execute("SELECT * FROM missions WHERE team_id = ? ORDER BY created_at DESC",
                       (team_id,)).fetchall()


def mission_named(con: sqlite3.Connection, team_id: str, name: str) -> sqlite3.Row | None:
    return con.execute("SELECT * FROM missions WHERE team_id = ? AND name = ?",
                       (team_id, name)).fetchone()


def add_mission(con: sqlite3.Connection, mission_id: str, team_id: str, name: str) -> None:
    con.execute("INSERT INTO missions VALUES (?, ?, ?, ?)", (mission_id, team_id, name, now()))


def mission_and_team(con: sqlite3.Connection, mission_id: str) -> sqlite3.Row:
    """The mission's ``name`` and its team's (``team``)."""
    return con.execute("SELECT m.name, t.name AS team FROM missions m JOIN teams t ON "
                       "t.id = m.team_id WHERE m.id = ?", (mission_id,)).fetchone()


def mission_in_use(con: sqlite3.Connection, mission_id: str) -> bool:
    """Whether the mission holds any file or job."""
    return bool(con.execute("SELECT EXISTS (SELECT 1 FROM files WHERE mission_id = ?) OR "
                            "EXISTS (SELECT 1 FROM jobs WHERE mission_id = ?)",
                            (mission_id, mission_id)).fetchone()[0])


def delete_mission(con: sqlite3.Connection, mission_id: str) -> None:
    con.execute("DELETE FROM missions WHERE id = ?", (mission_id,))


def mission_files(con: sqlite3.Connection, mission_id: str, team_id: str) -> list[sqlite3.Row]:
    return con.execute("SELECT * FROM files WHERE mission_id = ? AND team_id = ? ORDER BY "
                       "created_at", (mission_id, team_id)).fetchall()


def ready_file_ids(con: sqlite3.Connection, mission_id: str, team_id: str) -> list[str]:
    return [r["id"] for r in con.execute(
        "SELECT id FROM files WHERE mission_id = ? AND team_id = ? AND state = 'ready' ORDER BY "
        "created_at", (mission_id, team_id))]


def mission_jobs(con: sqlite3.Connection, mission_id: str, team_id: str) -> list[sqlite3.Row]:
    return con.execute("SELECT * FROM jobs WHERE mission_id = ? AND team_id = ? ORDER BY "
                       "created_at DESC", (mission_id, team_id)).fetchall()


def last_jobs(con: sqlite3.Connection, mission_id: str) -> tuple[sqlite3.Row | None, str | None]:
    """The mission's newest job, and the id of its newest finished one."""
    last = con.execute("SELECT * FROM jobs WHERE mission_id = ? ORDER BY created_at DESC LIMIT 1",
                       (mission_id,)).fetchone()
    done = con.execute("SELECT id FROM jobs WHERE mission_id = ? AND state = 'done' ORDER BY "
                       "finished_at DESC LIMIT 1", (mission_id,)).fetchone()
    return last, done["id"] if done else None


def add_file(con: sqlite3.Connection, file_id: str, team_id: str, mission_id: str, name: str,
             length: int) -> None:
    """A new upload, receiving."""
    con.execute("INSERT INTO files (id, team_id, mission_id, name, length, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'receiving', ?)",
                (file_id, team_id, mission_id, name, length, now()))


def set_offset(con: sqlite3.Connection, file_id: str, offset: int, state: str) -> bool:
    """Record an upload's new offset and state while it is still receiving; False when it is not
    (it expired meanwhile)."""
    return con.execute("UPDATE files SET offset = ?, state = ? WHERE id = ? AND "
                       "state = 'receiving'", (offset, state, file_id)).rowcount == 1


def file_row(con: sqlite3.Connection, file_id: str) -> sqlite3.Row | None:
    return con.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()


def record_check(con: sqlite3.Connection, file_id: str, state: str, error: str | None,
                 bounds: list | None, pixels: int | None) -> None:
    """What an upload's checks found: ``ready`` with its bounds and pixels, or ``rejected``."""
    con.execute("UPDATE files SET state = ?, error = ?, bounds = ?, pixels = ? WHERE id = ?",
                (state, error, json.dumps(bounds) if bounds else None, pixels, file_id))


def files_by_id(con: sqlite3.Connection, file_ids: list[str]) -> dict[str, sqlite3.Row]:
    """Id -> row of each of ``file_ids`` still in the database."""
    marks = ",".join("?" * len(file_ids))
    return {r["id"]: r for r in con.execute(f"SELECT * FROM files WHERE id IN ({marks})",
                                            file_ids)}


def file_name(con: sqlite3.Connection, file_id: str) -> str | None:
    row = con.execute("SELECT name FROM files WHERE id = ?", (file_id,)).fetchone()
    return row["name"] if row else None


def files_in_state(con: sqlite3.Connection, state: str) -> list[str]:
    return [r["id"] for r in con.execute("SELECT id FROM files WHERE state = ?", (state,))]


def delete_file(con: sqlite3.Connection, file_id: str) -> None:
    con.execute("DELETE FROM files WHERE id = ?", (file_id,))


def reserved_bytes(con: sqlite3.Connection) -> int:
    """Bytes every unfinished upload (all teams) may still write."""
    return con.execute("SELECT COALESCE(SUM(length - offset), 0) FROM files "
                       "WHERE state = 'receiving'").fetchone()[0]


def team_usage(con: sqlite3.Connection, team_id: str) -> tuple[int, int]:
    """Bytes of the team's files not refused, and how many of its uploads are unfinished."""
    used, open_now = con.execute(
        "SELECT COALESCE(SUM(CASE WHEN state != 'rejected' THEN length END), 0), "
        "COUNT(CASE WHEN state = 'receiving' THEN 1 END) FROM files WHERE team_id = ?",
        (team_id,)).fetchone()
    return int(used), int(open_now)


def used_pixels(con: sqlite3.Connection, team_id: str, *, besides: str) -> int:
    """Pixels of the team's checked files, but for the file ``besides``."""
    return con.execute("SELECT COALESCE(SUM(pixels), 0) FROM files WHERE team_id = ? AND "
                       "state = 'ready' AND id != ?", (team_id, besides)).fetchone()[0]


def expired_uploads(con: sqlite3.Connection, created_before: float) -> list[str]:
    return [r["id"] for r in con.execute(
        "SELECT id FROM files WHERE state = 'receiving' AND created_at < ?", (created_before,))]


def reject_files(con: sqlite3.Connection, file_ids: list[str], reason: str) -> None:
    con.executemany("UPDATE files SET state = 'rejected', error = ? WHERE id = ?",
                    [(reason, f) for f in file_ids])


def link_job_files(con: sqlite3.Connection, job_id: str, file_ids: list[str]) -> None:
    """Name the job's files in ``job_files``, in the order asked for."""
    con.executemany("INSERT INTO job_files (job_id, file_id, position) VALUES (?, ?, ?)",
                    [(job_id, file_id, i) for i, file_id in enumerate(file_ids)])


def job_file_ids(con: sqlite3.Connection, job_id: str) -> list[str]:
    return [r["file_id"] for r in con.execute(
        "SELECT file_id FROM job_files WHERE job_id = ? ORDER BY position", (job_id,))]


def active_jobs_using(con: sqlite3.Connection, file_id: str) -> list[str]:
    """Queued or running jobs that need the file."""
    return [r["id"] for r in con.execute(
        "SELECT j.id FROM jobs j JOIN job_files f ON f.job_id = j.id WHERE f.file_id = ? AND "
        "j.state IN ('queued', 'running')", (file_id,))]

