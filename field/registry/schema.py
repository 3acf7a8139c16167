"""The mission registry's tables: one GeoPackage per operation area, PostGIS-ready.

Plain column types only (TEXT, INTEGER, REAL, DATETIME as ISO 8601 UTC text),
text ids that never depend on a row number, geometry in EPSG:4326. Each table
has an integer ``fid`` (GeoPackage needs one; PostGIS would use a serial) and
its text id as a UNIQUE column. Distances are never stored in degrees: matching
projects to a local UTM zone (:mod:`poppyscan.field.registry.matching`).

==========  =========  =====================================================
table       geometry   one row per
==========  =========  =====================================================
targets     POINT      place a crew is sent to (stable ``target_id``)
sightings   MULTIPOLY  detection of a target by a run (outline, conf, area)
flyovers    -          (run, known target) the run covered: seen or not seen
coverage    MULTIPOLY  run: the area its model looked at
runs        -          detection run recorded (run.json summary)
verdicts    -          crew verdict read back (applied, conflict, disputed)
imports     -          file read back (content hash: importing twice is a no-op)
meta        -          key/value: schema, id prefix, next target number
==========  =========  =====================================================
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from poppyscan.errors import ConfigError
from poppyscan.field.registry.gpkg import init_geopackage, register_table

__all__ = ["SCHEMA", "TABLES", "connect", "next_target_id"]

SCHEMA = "poppyscan.registry/1"

# table -> (geometry type or None, columns after fid/geom, description)
TABLES: dict[str, tuple[str | None, str, str]] = {
    "targets": ("POINT", """
        target_id TEXT NOT NULL UNIQUE, mission TEXT NOT NULL, state TEXT NOT NULL,
        first_seen DATETIME, last_seen DATETIME, last_flown DATETIME,
        n_sightings INTEGER NOT NULL DEFAULT 0, n_flown_not_seen INTEGER NOT NULL DEFAULT 0,
        n_verdicts INTEGER NOT NULL DEFAULT 0, n_replants INTEGER NOT NULL DEFAULT 0,
        last_verdict_at DATETIME, max_conf REAL, area_m2 REAL, position_uncertainty_m REAL,
        created_run_id TEXT NOT NULL""", "Places crews are sent to; state from the history"),
    "sightings": ("MULTIPOLYGON", """
        sighting_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL, target_id TEXT NOT NULL,
        run_target_id TEXT NOT NULL, mission TEXT NOT NULL, flown_at DATETIME NOT NULL,
        conf REAL NOT NULL, area_m2 REAL NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
        gsd_m REAL, rank INTEGER, sources TEXT, thumbnail TEXT, match TEXT NOT NULL,
        match_distance_m REAL""", "Every detection of a target by a run"),
    "flyovers": (None, """
        run_id TEXT NOT NULL, target_id TEXT NOT NULL, flown_at DATETIME NOT NULL,
        seen INTEGER NOT NULL, UNIQUE (run_id, target_id)""",
        "Known targets inside a run's coverage: seen (1) or flown, not seen (0)"),
    "coverage": ("MULTIPOLYGON", """
        run_id TEXT NOT NULL UNIQUE, mission TEXT NOT NULL, flown_at DATETIME NOT NULL,
        area_km2 REAL NOT NULL""", "Area each run's model looked at"),
    "runs": (None, """
        run_id TEXT NOT NULL UNIQUE, mission TEXT NOT NULL, flown_at DATETIME NOT NULL,
        created_at DATETIME, recorded_at DATETIME NOT NULL, run_dir TEXT NOT NULL,
        model_id TEXT, conf_threshold REAL, gsd_m REAL, position_uncertainty_m REAL NOT NULL,
        inputs TEXT NOT NULL, n_sightings INTEGER NOT NULL, n_matched INTEGER NOT NULL,
        n_new INTEGER NOT NULL, n_flown_not_seen INTEGER NOT NULL, n_replants INTEGER NOT NULL,
        coverage_km2 REAL""", "Detection runs recorded (inputs: JSON list of files)"),
    "verdicts": (None, """
        verdict_id TEXT NOT NULL UNIQUE, target_id TEXT NOT NULL, status TEXT NOT NULL,
        visited_at DATETIME, crew TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
        photo TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        import_id TEXT NOT NULL, recorded_at DATETIME NOT NULL""",
        "Crew verdicts read back; outcome applied, conflict or disputed"),
    "imports": (None, """
        import_id TEXT NOT NULL UNIQUE, path TEXT NOT NULL, format TEXT NOT NULL,
        imported_at DATETIME NOT NULL, n_rows INTEGER NOT NULL, n_applied INTEGER NOT NULL,
        n_skipped INTEGER NOT NULL, n_flagged INTEGER NOT NULL""", "Files read back"),
    "meta": (None, "key TEXT NOT NULL UNIQUE, value TEXT NOT NULL", "Registry settings"),
}
_INDEXES = ("CREATE INDEX IF NOT EXISTS sightings_target ON sightings (target_id)",
            "CREATE INDEX IF NOT EXISTS verdicts_target ON verdicts (target_id)",
            "CREATE INDEX IF NOT EXISTS flyovers_target ON flyovers (target_id)")


@contextlib.contextmanager
def connect(path: str | os.PathLike, *, create: bool = False, prefix: str | None = None,
            write: bool = True) -> Iterator[sqlite3.Connection]:
    """An open registry in one transaction: committed on success, rolled back on error.

    ``create=True`` makes the file when it is missing; target ids then start
    with ``prefix`` (default: the file name, letters and digits only).
    ``write=False`` reads one consistent snapshot without taking the write lock
    (a registry on read-only media opens too).
    """
    path = Path(path)
    if not path.exists() and not create:
        raise ConfigError(f"{path}: no such registry; record a run into it first "
                          "(`poppyscan registry record RUN_DIR --registry FILE`)")
    new = not path.exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" if not write and not new else None
    con = sqlite3.connect(uri or path, isolation_level=None, uri=uri is not None)
    try:
        con.row_factory = sqlite3.Row
        try:
            # One writer at a time; readers see whole commits.
            con.execute("BEGIN IMMEDIATE" if write or new else "BEGIN")
            if not new:
                _check(con, path)
        except sqlite3.DatabaseError as err:
            raise ConfigError(f"{path}: not a poppyscan registry ({err})") from None
        if new:
            _create(con, prefix or _default_prefix(path))
        yield con
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        if new:
            con.close()
            path.unlink(missing_ok=True)
        raise
    finally:
        con.close()


def next_target_id(con: sqlite3.Connection) -> str:
    """A new registry target id, ``<PREFIX>-00001`` onwards; never reused."""
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    number = int(meta["next_target_number"])
    con.execute("UPDATE meta SET value = ? WHERE key = 'next_target_number'", (str(number + 1),))
    return f"{meta['prefix']}-{number:05d}"


def _create(con: sqlite3.Connection, prefix: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9]{1,16}", prefix):
        raise ConfigError(f"registry id prefix {prefix!r} is invalid: use 1-16 letters or digits")
    init_geopackage(con)
    for table, (geometry_type, columns, description) in TABLES.items():
        geom = "geom " + geometry_type + ", " if geometry_type else ""
        con.execute(f"CREATE TABLE {table} "
                    f"(fid INTEGER PRIMARY KEY AUTOINCREMENT, {geom}{columns})")
        register_table(con, table, geometry_type=geometry_type, description=description)
    for sql in _INDEXES:
        con.execute(sql)
    con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema", SCHEMA), ("prefix", prefix.upper()), ("next_target_number", "1")])


def _check(con: sqlite3.Connection, path: Path) -> None:
    row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None or row[0] != SCHEMA:
        raise ConfigError(f"{path}: registry schema {row[0] if row else 'unknown'!r}, "
                          f"this poppyscan reads {SCHEMA!r}")


def _default_prefix(path: Path) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", path.stem).upper()[:16]
    return letters or "T"
