"""The detection journal: finished chip blocks and their detections, committed block by block.

A run writes its journal (SQLite) into the output folder as it goes. Each block
of chips is committed in one transaction with its detections, its coverage and
its chip counts, so a run killed at any point loses at most the block in
flight; the same command rerun skips every finished block. The journal's
fingerprint (inputs, model, grid, thresholds, batch size) must match, or the
journal belongs to another run.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import shapely

from poppyscan.detect.detections import Detection
from poppyscan.errors import ConfigError

__all__ = ["Journal", "JournalMismatch", "journal_path", "journalled_chips"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, coverage BLOB NOT NULL,
    read INTEGER NOT NULL, yielded INTEGER NOT NULL, skipped_collar INTEGER NOT NULL,
    collar_boxes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS detections (
    block TEXT NOT NULL REFERENCES blocks(key), source TEXT NOT NULL, chip_row INTEGER NOT NULL,
    chip_col INTEGER NOT NULL, conf REAL NOT NULL, cls INTEGER NOT NULL, cut INTEGER NOT NULL,
    polygon BLOB NOT NULL, chip_polygon BLOB NOT NULL);
"""


class JournalMismatch(ConfigError):
    """The journal in an output folder was written by a run with other inputs or settings."""


class Journal:
    """An open journal; ``Journal(":memory:", ...)`` for a run that writes no folder."""

    def __init__(self, path: str | os.PathLike, fingerprint: dict, *, run_id: str) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self._db.executescript(_SCHEMA)
        self.fingerprint = fingerprint
        stored = self._meta("fingerprint")
        if stored is None:
            self._set_meta({"fingerprint": _canonical(fingerprint), "run_id": run_id})
        elif stored != _canonical(fingerprint):
            self.close()
            raise JournalMismatch(
                f"{self.path}: an unfinished run with other {_differences(stored, fingerprint)} "
                "was journalled here")
        self.run_id = self._meta("run_id")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def done_blocks(self) -> set[str]:
        return {key for (key,) in self._db.execute("SELECT key FROM blocks")}

    def commit_block(self, key: str, source: str, detections: list[Detection], coverage,
                     counts: dict[str, int]) -> None:
        """Record a finished block, its detections and chip counts, all at once or not at all."""
        rows = [(key, d.source, d.chip[0], d.chip[1], d.conf, d.cls, int(d.cut),
                 shapely.to_wkb(d.polygon), shapely.to_wkb(d.chip_polygon)) for d in detections]
        with self._transaction():
            self._db.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key, source, shapely.to_wkb(coverage), counts["read"],
                              counts["yielded"], counts["skipped_collar"], counts["collar_boxes"]))
            self._db.executemany("INSERT INTO detections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def detections(self) -> Iterator[Detection]:
        """Every journalled detection, in block and chip order (the order of a straight run)."""
        query = ("SELECT source, chip_row, chip_col, conf, cls, cut, polygon, chip_polygon "
                 "FROM detections ORDER BY rowid")
        for source, row, col, conf, cls, cut, polygon, chip_polygon in self._db.execute(query):
            yield Detection(shapely.from_wkb(polygon), conf, cls, source, (row, col),
                            shapely.from_wkb(chip_polygon), bool(cut))

    def coverage(self) -> dict[str, list]:
        """Per source, the coverage polygons of its finished blocks."""
        out: dict[str, list] = {}
        for source, wkb in self._db.execute("SELECT source, coverage FROM blocks ORDER BY rowid"):
            out.setdefault(source, []).append(shapely.from_wkb(wkb))
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Per source: chips read, kept and skipped as collar, and boxes dropped on the collar."""
        query = ("SELECT source, SUM(read), SUM(yielded), SUM(skipped_collar), SUM(collar_boxes) "
                 "FROM blocks GROUP BY source")
        return {source: {"read": r, "yielded": y, "skipped_collar": s, "collar_boxes": c}
                for source, r, y, s, c in self._db.execute(query)}

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *exc) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _canonical(fingerprint: dict) -> str:
    return json.dumps(fingerprint, sort_keys=True, default=str)


def _differences(stored: str, fingerprint: dict) -> str:
    """Which parts of the fingerprint changed, for the message: 'inputs', 'model', ..."""
    old = json.loads(stored)
    changed = [key for key in sorted(set(old) | set(fingerprint))
               if _canonical({"v": old.get(key)}) != _canonical({"v": fingerprint.get(key)})]
    return " and ".join(changed) if changed else "settings"


def journal_path(out_dir: str | os.PathLike) -> Path:
    """Where a run into ``out_dir`` keeps its journal."""
    return Path(out_dir) / ".poppyscan" / "journal.sqlite"


def journalled_chips(out_dir: str | os.PathLike) -> int:
    """Chips already read by an unfinished run into ``out_dir`` (0 when there is no journal)."""
    path = journal_path(out_dir)
    if not path.exists():
        return 0
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COALESCE(SUM(read), 0) FROM blocks").fetchone()[0])
    except sqlite3.OperationalError:  # created but its tables not yet written
        return 0
    finally:
        db.close()
