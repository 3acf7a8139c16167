"""Verdict files as crews bring them back, read into plain rows joined on the text target id.

* ``.gpkg``: the field package's GeoPackage as QField leaves it. QField keeps
  edits in the ``-wal`` file beside it until the database is closed cleanly; the
  files are copied to a temporary folder and opened with sqlite3, which applies
  the WAL, so no edit is lost and the crew's files stay untouched.
* ``.zip``: a GeoPackage with its ``-wal``/``-shm`` files (or any of the formats
  here) zipped on the phone.
* ``.csv``: a header row; columns ``target_id``, ``status``, ``visited_at``,
  ``crew``, ``note``, ``photo`` (or the aliases in ``ALIASES``).
* ``.gpx`` / ``.kml`` / ``.kmz``: waypoints or placemarks from OsmAnd, Organic
  Maps, Locus: the target id is the name's first word; the status is a
  ``status`` field or the last status word in the name, comment or description.

Rows never join on a feature id (fid): only on ``target_id``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from poppyscan.errors import ConfigError
from poppyscan.user_files import (
    MAX_CSV_ROWS,
    check_zip,
    csv_records,
    extract_zip,
    gpkg_tables,
    interrupted,
    open_sqlite,
)

__all__ = ["ALIASES", "VerdictFile", "VerdictRow", "read_verdict_files"]

ALIASES: dict[str, tuple[str, ...]] = {
    "target_id": ("target_id", "targetid", "target", "id"),
    "status": ("status", "verdict"),
    "visited_at": ("visited_at", "visit_time", "visited", "date", "time", "timestamp", "when"),
    "crew": ("crew", "team"),
    "note": ("note", "notes", "comment"),
    "photo": ("photo", "photo_path", "picture", "image"),
}
_TEXT_FIELDS = ("name", "cmt", "desc", "description")
_STATUS_WORDS = re.compile(r"false[ _-]?positive|not[ _-]?found|confirmed|eradicated|"
                           r"inaccessible|pending", re.IGNORECASE)
SUFFIXES = (".gpkg", ".zip", ".csv", ".gpx", ".kml", ".kmz")


@dataclass(frozen=True)
class VerdictRow:
    """One crew row as read: text values, not yet checked (``where`` locates it for messages)."""

    target_id: str
    status: str
    visited_at: str
    crew: str
    note: str
    photo: str
    where: str


@dataclass(frozen=True)
class VerdictFile:
    path: Path
    format: str
    import_id: str  # sha256 of the bytes read (GeoPackage + its -wal)
    rows: list[VerdictRow]


def read_verdict_files(path: str | os.PathLike) -> list[VerdictFile]:
    """Every verdict file in ``path`` (one, or those inside a zip)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: cannot read verdicts from {suffix or 'a file without suffix'}; "
                          f"use one of {', '.join(SUFFIXES)}")
    if suffix == ".zip":
        return _read_zip(path)
    return [_read_one(path, path)]


def _read_one(path: Path, shown: Path) -> VerdictFile:
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        digest, rows = _read_gpkg(path, shown)
    else:
        digest = _sha256([path])
        rows = _read_csv(path, shown) if suffix == ".csv" else _read_ogr(path, shown)
    return VerdictFile(shown, suffix.lstrip("."), digest, rows)


def _read_zip(path: Path) -> list[VerdictFile]:
    with tempfile.TemporaryDirectory(prefix="poppyscan-import-") as tmp:
        names = extract_zip(path, Path(tmp))  # counts, sizes and ratios checked first
        found = [Path(tmp, n) for n in sorted(names)
                 if Path(n).suffix.lower() in SUFFIXES and Path(n).suffix.lower() != ".zip"]
        if not found:
            raise ConfigError(f"{path}: holds no .gpkg, .csv, .gpx, .kml or .kmz file")
        return [_read_one(f, Path(f"{path}!{f.relative_to(tmp).as_posix()}")) for f in found]


def _read_gpkg(path: Path, shown: Path) -> tuple[str, list[VerdictRow]]:
    """Rows of every table with ``target_id`` and ``status`` columns, WAL applied."""
    companions = [Path(f"{path}{s}") for s in ("-wal", "-shm")]
    digest = _sha256([path, companions[0]])
    with tempfile.TemporaryDirectory(prefix="poppyscan-gpkg-") as tmp:
        copy = Path(tmp) / path.name
        for src in [path, *companions]:
            if src.is_file():
                shutil.copyfile(src, Path(tmp) / src.name)
        con = open_sqlite(copy, shown)  # a copy, so the WAL is applied and theirs untouched
        try:
            rows = []
            for table in gpkg_tables(con, shown, ("features", "attributes")):
                quoted = table.replace('"', '""')
                columns = [r[1] for r in con.execute(f'PRAGMA table_info("{quoted}")')]
                if "target_id" in columns and "status" in columns:
                    for record in con.execute(f'SELECT * FROM "{quoted}"'):
                        if len(rows) >= MAX_CSV_ROWS:
                            raise ConfigError(f"{shown}: more than {MAX_CSV_ROWS:,} rows")
                        rows.append(_row(dict(record), f"{shown} {table} fid {record[0]}"))
        except sqlite3.DatabaseError as err:
            raise interrupted(con, err) from None
        finally:
            con.close()
    return digest, rows


def _read_csv(path: Path, shown: Path) -> list[VerdictRow]:
    rows = []
    for i, record in enumerate(csv_records(path, shown)):  # streamed, rows capped
        if i == 0 and _pick({str(k).lower(): v for k, v in record.items() if k}, "target_id") \
                is None:
            raise ConfigError(f"{shown}: no target_id column (or "
                              f"{', '.join(ALIASES['target_id'])})")
        rows.append(_row(record, f"{shown} line {i + 2}"))
    return rows


def _read_ogr(path: Path, shown: Path) -> list[VerdictRow]:
    import pyogrio
    from pyogrio.raw import read as ogr_read

    if path.suffix.lower() == ".kmz":
        check_zip(path)  # before GDAL unpacks it
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
        if path.suffix.lower() == ".gpx":
            layers = [name for name in layers if name == "waypoints"]  # route points repeat them
        rows = []
        for layer in layers:
            meta, _, _, values = ogr_read(path, layer=layer, read_geometry=False)
            names = [str(n) for n in meta["fields"]]
            for i in range(len(values[0]) if len(values) else 0):
                record = {n: values[k][i] for k, n in enumerate(names)}
                rows.append(_text_row(record, f"{shown} {layer} #{i + 1}"))
                if len(rows) > MAX_CSV_ROWS:
                    raise ConfigError(f"{shown}: more than {MAX_CSV_ROWS:,} features")
    except pyogrio.errors.DataSourceError as err:
        raise ConfigError(f"{shown}: GDAL cannot read it ({str(err).splitlines()[0]})") from None
    return [r for r in rows if r.target_id]


def _text_row(record: dict, where: str) -> VerdictRow:
    """A GPX/KML feature: id from the name, status from a field or the free text."""
    lowered = {k.lower(): v for k, v in record.items()}
    row = _row(record, where)
    name = str(lowered.get("name") or "").strip()
    target_id = row.target_id or (name.split()[0] if name else "")
    status = row.status
    if not status:
        words = _STATUS_WORDS.findall(" ".join(str(lowered.get(k) or "") for k in _TEXT_FIELDS))
        status = words[-1] if words else ""
    return VerdictRow(target_id, status, row.visited_at, row.crew, row.note, row.photo, where)


def _row(record: dict, where: str) -> VerdictRow:
    lowered = {str(k).lower(): v for k, v in record.items() if k is not None}
    values = {key: _pick(lowered, key) for key in ALIASES}
    return VerdictRow(*(_text(values[k]) for k in ALIASES), where)


def _pick(record: dict, key: str):
    for alias in ALIASES[key]:
        if alias in record and record[alias] not in (None, ""):
            return record[alias]
    return None


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value).strip()
    return "" if text in ("NaT", "nan", "None") else text


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in paths:
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()
