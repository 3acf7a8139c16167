"""Where the service keeps things: one SQLite file and folders under the data directory.

::

    DIR/state.sqlite                   teams, users, sessions, tokens, missions, files, jobs
    DIR/files/<file id>/<name>.tif     an uploaded orthomosaic (upload.part while it arrives)
    DIR/files/<file id>/preview.tif    its web-mercator preview with overviews (map tiles)
    DIR/jobs/<job id>/out/             the detection run folder (journal while it runs)
    DIR/jobs/<job id>/field/, field.zip  the mission's field package
    DIR/teams/<team id>/registry.gpkg  the team's mission registry
    DIR/teams/<team id>/returns/       crews' returned packages, as uploaded

Every id is made here (:func:`new_id`: 32 hex digits) and every path is built
from ids and fixed names, so no request can name a path.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from poppyscan.errors import ConfigError

__all__ = ["DEFAULT_SETTINGS", "DataDir", "ServiceSettings", "check_state", "connect", "is_id",
           "new_id", "public_text", "transaction"]

_ID = re.compile(r"[0-9a-f]{32}")
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, team_id TEXT NOT NULL REFERENCES teams(id),
    password_hash TEXT NOT NULL, created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS missions (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL REFERENCES teams(id), name TEXT NOT NULL,
    created_at REAL NOT NULL, UNIQUE (team_id, name));
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL, mission_id TEXT NOT NULL REFERENCES missions(id),
    name TEXT NOT NULL, length INTEGER NOT NULL, offset INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL, error TEXT, bounds TEXT, created_at REAL NOT NULL, pixels INTEGER);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, team_id TEXT NOT NULL, mission_id TEXT NOT NULL REFERENCES missions(id),
    file_ids TEXT NOT NULL, state TEXT NOT NULL, stage TEXT NOT NULL,
    chips_done INTEGER NOT NULL DEFAULT 0, chips_total INTEGER, eta_s REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT, targets INTEGER,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
CREATE TABLE IF NOT EXISTS job_files (
    job_id TEXT NOT NULL REFERENCES jobs(id), file_id TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (job_id, file_id));
CREATE INDEX IF NOT EXISTS job_files_file ON job_files (file_id);
"""


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and runtime of one service (``poppyscan serve`` flags)."""

    max_upload_bytes: int = 200 << 30  # one orthomosaic
    team_quota_bytes: int = 1 << 40  # all of a team's uploads together
    min_free_bytes: int = 1 << 30  # disk left free after an upload is reserved
    session_hours: float = 12.0
    preview_max_px: int = 4096  # longest side of a file's map preview
    lease_s: float = 60.0  # a worker's claim on a job lasts this long without a heartbeat
    upload_expiry_h: float = 48.0  # an unfinished upload is deleted this long after creation
    max_open_uploads: int = 32  # unfinished uploads one team may hold at once
    team_quota_px: int = 2_000_000_000_000  # pixels of all of a team's checked files together
    intake_cpu_s: int = 600  # CPU seconds one upload's checks and preview may take
    intake_memory_bytes: int = 4 << 30  # address space of the process checking an upload
    returns_cpu_s: int = 120  # CPU seconds one returned package's import may take
    returns_memory_bytes: int = 2 << 30  # address space of the process importing it


DEFAULT_SETTINGS = ServiceSettings()


class DataDir:
    """The service's data directory and the paths of everything in it."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).absolute()
        self.db = self.root / "state.sqlite"
        self._key: bytes | None = None

    def create(self) -> DataDir:
        """Make the folders and tables when new, after :func:`check_state` (damage refused)."""
        for sub in ("files", "jobs", "teams"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        check_state(self)
        con = connect(self)
        try:
            con.executescript(SCHEMA)
            _add_columns(con)
        finally:
            con.close()
        return self

    def secret_key(self) -> bytes:
        """The folder's 256-bit key for API tokens' HMACs (``secret.key``, made when missing)."""
        if self._key is None:
            path = self.root / "secret.key"
            if not path.exists():  # made whole, then linked: a racing process reads all or none
                tmp = self.root / f".secret.key.{new_id()}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            self._key = bytes.fromhex(path.read_text().strip())
        return self._key

    def file_dir(self, file_id: str) -> Path:
        return self.root / "files" / _checked(file_id)

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / _checked(job_id)

    def team_dir(self, team_id: str) -> Path:
        return self.root / "teams" / _checked(team_id)

    def registry(self, team_id: str) -> Path:
        return self.team_dir(team_id) / "registry.gpkg"


def _add_columns(con: sqlite3.Connection) -> None:
    """Columns and links added since the first release, for data folders made before them."""
    for table, column, kind in (("files", "pixels", "INTEGER"),
                                ("users", "disabled", "INTEGER NOT NULL DEFAULT 0")):
        if column not in {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    # Jobs queued before job_files existed: their files from the JSON list they were made with.
    con.execute("INSERT INTO job_files (job_id, file_id, position) SELECT j.id, e.value, e.key "
                "FROM jobs j, json_each(j.file_ids) e WHERE j.id NOT IN "
                "(SELECT job_id FROM job_files)")


def check_state(data: DataDir) -> None:
    """``PRAGMA quick_check`` of the state database: a damaged one is one ConfigError line."""
    if not data.db.exists():
        return
    try:
        con = connect(data)
        try:
            problems = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        problems = [str(err)]
    if problems != ["ok"]:
        detail = " ".join(problems[0].replace("*** in database main ***", "").split())
        raise ConfigError(f"{data.db}: the state database is damaged ({detail}); stop "
                          "every service using it and restore the last backup (see the README, "
                          "'Backup and restore')")


def public_text(data: DataDir, text: str) -> str:
    """``text`` without the data folder's path or a team's id: answers never show either.

    >>> public_text(DataDir("/srv/p"), "/srv/p/teams/" + "a" * 32 + "/registry.gpkg: locked")
    'registry.gpkg: locked'
    """
    text = str(text).replace(str(data.root) + os.sep, "").replace(str(data.root), "")
    return re.sub(r"teams/[0-9a-f]{32}/", "", text)


def new_id() -> str:
    """A fresh server-made id: 32 hex digits (128 random bits)."""
    return secrets.token_hex(16)


def is_id(value: str) -> bool:
    """True for a well-formed id (the only strings ever joined into a path)."""
    return bool(_ID.fullmatch(value))


def _checked(value: str) -> str:
    if not is_id(value):
        raise ValueError(f"not a service id: {value!r}")
    return value


def connect(data: DataDir) -> sqlite3.Connection:
    """A connection in autocommit mode (use :func:`transaction`), rows as mappings, WAL journal."""
    con = sqlite3.connect(data.db, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                          check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error): one writer at a time."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def now() -> float:
    return time.time()
