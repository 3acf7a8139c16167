"""Finding 5 of issue 29: every verdict file a crew hands in is read with limits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile

import pytest

from poppyscan.errors import ConfigError
from poppyscan.field.registry.readers import read_verdict_files
from poppyscan.user_files import interrupted, open_sqlite

RECURSIVE = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r)"


def hostile_gpkg(path, variant: str):
    """8 KB files as the issue's: gpkg_contents, or the table it lists, a view over recursion."""
    con = sqlite3.connect(path)
    if variant == "contents view":  # kept `field import` at 90 % CPU for 12 min 48 s
        con.execute(f"CREATE VIEW gpkg_contents AS {RECURSIVE} SELECT 'verdicts' AS table_name, "
                    "'attributes' AS data_type FROM r")
    else:  # grew the CLI to 2.25 GB: a string doubling at each step
        con.execute("CREATE TABLE gpkg_contents (table_name TEXT, data_type TEXT)")
        con.execute("INSERT INTO gpkg_contents VALUES ('verdicts', 'attributes')")
        con.execute("CREATE VIEW verdicts AS WITH RECURSIVE r(i, s) AS (SELECT 1, 'x' UNION ALL "
                    "SELECT i + 1, s || s FROM r) SELECT i AS fid, i AS target_id, s AS status "
                    "FROM r")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("variant", ["contents view", "table view"])
def test_a_geopackage_of_views_is_refused_at_once(tmp_path, variant):
    path = hostile_gpkg(tmp_path / "crew.gpkg", variant)
    with pytest.raises(ConfigError) as err:
        read_verdict_files(path)
    name = "gpkg_contents" if variant == "contents view" else "'verdicts'"
    assert f"{path}: " in str(err.value) and f"{name} is a view" in str(err.value)


def test_field_import_cli_refuses_it_in_one_line(tmp_path):
    path = hostile_gpkg(tmp_path / "crew.gpkg", "contents view")
    registry = tmp_path / "registry.gpkg"
    registry.write_bytes(b"")
    run = subprocess.run([sys.executable, "-m", "poppyscan", "field", "import", str(path),
                          "--registry", str(registry)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"Error: {path}: not a GeoPackage (gpkg_contents "
                                               "is a view)"]


def test_any_statement_stops_at_the_work_budget(tmp_path):
    path = tmp_path / "plain.sqlite"
    sqlite3.connect(path).close()
    con = open_sqlite(path, "plain.sqlite", budget_s=0.3)
    with pytest.raises(sqlite3.OperationalError) as err:
        con.execute(f"{RECURSIVE} SELECT count(*) FROM r").fetchone()
    assert str(interrupted(con, err.value)) == ("plain.sqlite: reading it took more than 0.3 s "
                                                "of work; refused")
    with pytest.raises(sqlite3.OperationalError, match="readonly|query_only|attempt to write"):
        con.execute("CREATE TABLE x (a)")
    con.close()


def test_a_csv_is_streamed_and_capped_in_rows(tmp_path, monkeypatch):
    """Issue: a 43 MB CSV took 2.16 GB of memory (scripts/hostile_inputs.py measures it now)."""
    monkeypatch.setattr("poppyscan.user_files.MAX_CSV_ROWS", 1000)
    path = tmp_path / "crew.csv"
    path.write_text("target_id,status\n" + "".join(f"M-{i},confirmed\n" for i in range(1001)))
    with pytest.raises(ConfigError, match="crew.csv: more than 1,000 rows; split the file"):
        read_verdict_files(path)
    path.write_text("target_id,status\n" + "".join(f"M-{i},confirmed\n" for i in range(1000)))
    assert len(read_verdict_files(path)[0].rows) == 1000


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_before_extraction(tmp_path, monkeypatch):
    """Issue: a 1 MB zip holding 1 GiB was extracted without limit (2.28 GB), ending in a
    traceback on a full temp disk."""
    import shutil

    extracted = []
    real = shutil.copyfileobj
    monkeypatch.setattr("poppyscan.user_files.shutil.copyfileobj",
                        lambda *a: extracted.append(1) or real(*a))
    bomb = _zip(tmp_path / "bomb.zip", {"crew.csv": b"\0" * (64 << 20)})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ConfigError, match=r"member 'crew.csv' unpacks to [\d,]+ times its size"):
        read_verdict_files(bomb)
    many = _zip(tmp_path / "many.zip", {f"{i}.csv": b"target_id,status\n" for i in range(300)})
    with pytest.raises(ConfigError, match="300 files in the zip, more than 256"):
        read_verdict_files(many)
    monkeypatch.setattr("poppyscan.user_files.MAX_ZIP_BYTES", 1 << 20)
    big = _zip(tmp_path / "big.zip", {"crew.csv": bytes(range(256)) * 8192})
    with pytest.raises(ConfigError, match="unpacks to 2,097,152 bytes, more than 1,048,576"):
        read_verdict_files(big)
    kmz = _zip(tmp_path / "bomb.kmz", {"doc.kml": b" " * (64 << 20)})
    with pytest.raises(ConfigError, match="unpacks to"):
        read_verdict_files(kmz)
    assert extracted == []  # nothing was unpacked
