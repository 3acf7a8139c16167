"""Limits on reading files that users hand in: SQLite (GeoPackage), CSV and zip.

A crew's returned package or an analyst's label file is data, never a program,
but SQLite runs whatever a view or a recursive query says and a zip says its
own sizes. So:

* SQLite files are opened read-only and ``query_only`` with ``trusted_schema`` off, values
  capped at :data:`MAX_VALUE_BYTES`, and a progress handler that stops any
  statement after :data:`SQLITE_BUDGET_S` seconds; the tables the format needs
  (``gpkg_contents`` and the tables it lists) must be tables, not views.
* CSV is read as a stream, at most :data:`MAX_CSV_ROWS` rows, lines of at most
  :data:`MAX_LINE_CHARS` characters (the csv module caps a field at 128 KiB).
* A zip's members are counted and its declared sizes and compression ratios
  checked before anything is extracted; extraction stops at the declared size.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from poppyscan.errors import ConfigError

__all__ = ["MAX_CSV_ROWS", "check_zip", "csv_records", "extract_zip", "gpkg_tables", "interrupted",
           "open_sqlite"]

SQLITE_BUDGET_S = 20.0
MAX_VALUE_BYTES = 1 << 20  # one text or blob value
MAX_CSV_ROWS = 100_000  # a mission has thousands of targets at most
MAX_LINE_CHARS = 512 << 10
MAX_ZIP_MEMBERS = 256
MAX_ZIP_BYTES = 512 << 20  # all members, as declared
MAX_ZIP_RATIO = 100  # uncompressed / compressed bytes of a member above 1 MiB


def open_sqlite(path: Path, shown: object, *, error=ConfigError,
                budget_s: float = SQLITE_BUDGET_S) -> sqlite3.Connection:
    """A connection to ``path`` that cannot write, run untrusted schema functions or work long."""
    con = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, factory=_Limited)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA query_only = ON")
    con.execute("PRAGMA trusted_schema = OFF")
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    deadline = time.monotonic() + budget_s

    def over_budget() -> int:
        return int(time.monotonic() > deadline)

    con.set_progress_handler(over_budget, 10_000)
    con.budget = (shown, budget_s, error)  # for the message of :func:`interrupted`
    return con


class _Limited(sqlite3.Connection):
    budget: tuple = ()


def interrupted(con: sqlite3.Connection, err: sqlite3.Error) -> Exception:
    """The one-line error for a statement stopped by the budget (or any other SQLite error)."""
    shown, budget_s, error = con.budget
    if "interrupted" in str(err):
        return error(f"{shown}: reading it took more than {budget_s:g} s of work; refused")
    return error(f"{shown}: not a readable GeoPackage ({err})")


def gpkg_tables(con: sqlite3.Connection, shown: object, data_types: tuple[str, ...], *,
                error=ConfigError) -> list[str]:
    """The tables ``gpkg_contents`` lists with ``data_types``; error if any is a view or missing."""
    kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE type IN "
                             "('table', 'view')").fetchall())
    if kinds.get("gpkg_contents") != "table":
        raise error(f"{shown}: not a GeoPackage (gpkg_contents is "
                    f"{'a view' if 'gpkg_contents' in kinds else 'missing'})")
    marks = ", ".join("?" * len(data_types))
    names = [r[0] for r in con.execute(
        f"SELECT table_name FROM gpkg_contents WHERE data_type IN ({marks})", data_types)]
    for name in names:
        if kinds.get(name) != "table":
            raise error(f"{shown}: {name!r} is {'a view' if name in kinds else 'missing'}, "
                        "not a table; a GeoPackage handed in must hold its rows in tables")
    return names


def csv_records(path: Path, shown: object, *, error=ConfigError,
                max_rows: int | None = None) -> Iterator[dict]:
    """The rows of a UTF-8 CSV file with a header, streamed; error past the limits."""
    max_rows = MAX_CSV_ROWS if max_rows is None else max_rows
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(_capped_lines(f, shown, error))
        try:
            for i, record in enumerate(reader):
                if i >= max_rows:
                    raise error(f"{shown}: more than {max_rows:,} rows; split the file")
                yield record
        except (UnicodeDecodeError, csv.Error) as err:
            raise error(f"{shown}: not a UTF-8 CSV file ({err})") from None


def _capped_lines(lines, shown, error) -> Iterator[str]:
    for line in lines:
        if len(line) > MAX_LINE_CHARS:
            raise error(f"{shown}: a line of more than {MAX_LINE_CHARS:,} characters")
        yield line


def extract_zip(path: Path, dest: Path, *, error=ConfigError) -> list[str]:
    """Extract ``path`` into ``dest`` after checking its members; their names."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check_members(path, members, error)
            for member in members:
                target = dest / member.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as out:
                    # zipfile stops at the declared size, so the checks above bound the bytes
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, NotImplementedError, EOFError) as err:
        raise error(f"{path}: not a readable zip ({err})") from None
    return [m.filename for m in members]


def check_zip(path: Path, *, error=ConfigError) -> None:
    """The checks of :func:`extract_zip`, for a zip another reader opens (GDAL's KMZ)."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(path, [m for m in archive.infolist() if not m.is_dir()], error)
    except zipfile.BadZipFile as err:
        raise error(f"{path}: not a readable zip ({err})") from None


def _check_members(path: Path, members: list[zipfile.ZipInfo], error) -> None:
    if len(members) > MAX_ZIP_MEMBERS:
        raise error(f"{path}: {len(members):,} files in the zip, more than {MAX_ZIP_MEMBERS}")
    total = sum(m.file_size for m in members)
    if total > MAX_ZIP_BYTES:
        raise error(f"{path}: unpacks to {total:,} bytes, more than {MAX_ZIP_BYTES:,}")
    for m in members:
        name = Path(m.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in m.filename:
            raise error(f"{path}: member {m.filename!r} points outside the archive")
        if m.file_size > (1 << 20) and m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1):
            ratio = m.file_size // max(m.compress_size, 1)
            raise error(f"{path}: member {m.filename!r} unpacks to {ratio:,} times its size (a "
                        f"zip bomb?); at most {MAX_ZIP_RATIO} times is accepted")
