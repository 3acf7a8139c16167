"""Field packages: what crews get (QGIS project, GPKG, imagery, GPX, KMZ, list), what comes back."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio

from poppyscan.errors import ConfigError
from poppyscan.field import write_field_package
from poppyscan.field.crews import assign_crews, visit_order
from poppyscan.field.registry import import_verdicts, record_run
from tests.detect.gpx_schema import check_gpx_structure, find_gpx_xsd
from tests.field.flights import make_flight, publish_run

QGIS_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("field")
    a = make_flight(root / "a.tif", gsd_m=0.05)
    b = make_flight(root / "b.tif", gsd_m=0.08, offset_m=(1.5, -1.0))
    reg = root / "area.gpkg"
    record_run(reg, publish_run([a], root / "run-a", mission="M1",
                                created_at="2026-03-01T08:00:00Z"))
    record_run(reg, publish_run([b], root / "run-b", mission="M2",
                                created_at="2026-03-10T08:00:00Z"))
    return reg


@pytest.fixture(scope="module")
def package(registry, tmp_path_factory):
    return write_field_package(registry, tmp_path_factory.mktemp("out") / "crew-pack", crews=2)


def _copy_registry(registry: Path, tmp_path: Path) -> Path:
    return Path(shutil.copyfile(registry, tmp_path / "area.gpkg"))


def test_package_holds_every_output_and_a_zip(package):
    names = {"crew-pack.qgz", "field.gpkg", "imagery.gpkg", "targets.gpx", "targets.kmz",
             "list.html", "package.json", "thumbs", "DCIM"}
    assert names == set(package.paths)
    assert len(list((package.out_dir / "thumbs").glob("*.jpg"))) == 6
    with zipfile.ZipFile(package.zip_path) as archive:
        inside = {n.split("/")[1] for n in archive.namelist()}
    assert names <= inside
    manifest = json.loads((package.out_dir / "package.json").read_text())
    assert manifest["crews"] == {"crew 1": 3, "crew 2": 3} and len(manifest["targets"]) == 6


def test_field_gpkg_has_verdict_fields_and_the_status_list(package):
    meta, _, geoms, fields = pyogrio.raw.read(package.paths["field.gpkg"], layer="targets")
    names = list(meta["fields"])
    for name in ("target_id", "status", "visited_at", "crew", "note", "photo", "priority", "rank"):
        assert name in names
    assert set(fields[names.index("status")]) == {"pending"}
    assert set(fields[names.index("crew")]) == {"crew 1", "crew 2"}
    con = sqlite3.connect(package.paths["field.gpkg"])
    codes = {v for (v,) in con.execute("SELECT value FROM gpkg_data_column_constraints")}
    con.close()
    assert {"pending", "confirmed", "false_positive", "not_found", "eradicated"} <= codes
    assert dict(pyogrio.list_layers(package.paths["field.gpkg"]))["plots"] == "MultiPolygon"


def test_crew_lists_split_the_ground_and_walk_it_in_order():
    west = np.array([[0, 0], [30, 5], [10, 40], [5, 20]], float)
    east = west + [5000, 0]
    xy = np.vstack([west[:1], east[:1], west[1:], east[1:]])  # rows in priority order
    crews = assign_crews(xy, 2)
    assert list(crews) == [0, 1, 0, 0, 0, 1, 1, 1]
    order = visit_order(west)
    assert list(order) == [0, 3, 2, 1] or list(order) == [0, 1, 3, 2]
    assert order[0] == 0


def test_package_crews_start_at_their_most_urgent_target(package):
    for crew in ("crew 1", "crew 2"):
        members = [t for t in package.targets if t.crew == crew]
        first = min(members, key=lambda t: t.visit_order)
        assert first.rank == min(t.rank for t in members)
        assert sorted(t.visit_order for t in members) == list(range(1, len(members) + 1))


def test_imagery_covers_the_targets_and_is_small(package):
    stats = package.imagery
    assert stats.n_targets == 6 and stats.n_without == 0 and stats.tiles >= 1
    with rasterio.open(package.paths["imagery.gpkg"]) as src:
        assert src.crs.to_epsg() == 3857
        rgb = src.read([1, 2, 3])
    red = (rgb[0] > 160) & (rgb[1] < 90) & (rgb[2] < 90)
    # The six plots (about 125 m2 in all) at 0.25 m: 16 pixels a square metre.
    assert 1500 < red.sum() < 2600
    assert stats.mb_per_km2 < 30


def test_gpx_follows_the_gpx_1_1_schema(package):
    gpx = package.paths["targets.gpx"]
    check_gpx_structure(gpx)
    root = ET.parse(gpx).getroot()
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(root.findall("g:wpt", ns)) == 6 and len(root.findall("g:rte", ns)) == 2


@pytest.mark.skipif(find_gpx_xsd() is None or shutil.which("xmllint") is None,
                    reason="no GPX 1.1 XSD (set POPPYSCAN_GPX_XSD) or no xmllint")
def test_gpx_validates_against_the_xsd_with_xmllint(package):
    gpx, xsd = package.paths["targets.gpx"], find_gpx_xsd()
    done = subprocess.run(["xmllint", "--noout", "--schema", str(xsd), str(gpx)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_kmz_opens_with_gdal_and_holds_thumbnails(package):
    kmz = package.paths["targets.kmz"]
    layers = dict(pyogrio.list_layers(kmz))
    assert {"crew 1", "crew 2", "Plot outlines"} <= set(layers)
    meta, _, geoms, fields = pyogrio.raw.read(kmz, layer="crew 1")
    assert len(geoms) == 3 and "target_id" in list(meta["fields"])
    with zipfile.ZipFile(kmz) as archive:
        names = archive.namelist()
    assert "doc.kml" in names and sum(n.startswith("files/thumbs/") for n in names) == 6
    assert {"files/high.png", "files/medium.png", "files/low.png"} <= set(names)


def test_printable_list_has_every_target_by_crew(package):
    text = package.paths["list.html"].read_text()
    assert text.count("<tr class=") == 6 and "crew 1: 3 targets" in text


def test_printable_list_without_crews_is_one_walk_named_for_the_mission(registry, tmp_path):
    from poppyscan.detect.export._labels import lat_lon_text

    pack = write_field_package(registry, tmp_path / "pkg", mission="M1")
    text = pack.paths["list.html"].read_text()
    assert "<title>Mission M1</title>" in text and "pkg" not in text.split("<body>")[1]
    assert "Walking order: 6 targets in visit order" in text
    assert sorted(t.visit_order for t in pack.targets) == list(range(1, 7))
    assert {t.crew for t in pack.targets} == {""}
    rows = text.split("<tr class=")[1:]
    assert len(rows) == 6 and all("% sure" in r and " m2" in r for r in rows)  # Why, filled
    assert all("&#9744;&nbsp;inaccessible" in r and "&#9744;&nbsp;not&nbsp;found" in r
               for r in rows)
    for t in pack.targets:  # the digits the report prints (lat_lon_text), from the registry
        assert ", ".join(lat_lon_text(t.lat, t.lon)) in text
    manifest = json.loads(pack.paths["package.json"].read_text())
    assert manifest["registry"] == "area.gpkg"  # no server folder in what travels


def test_existing_package_is_not_overwritten(registry, package):
    with pytest.raises(ConfigError, match="already exists"):
        write_field_package(registry, package.out_dir)
    with pytest.raises(ConfigError, match="nothing to package"):
        write_field_package(registry, package.out_dir.parent / "none", states=["eradicated"])


def _qfield_edit(gpkg: Path, edits, returned: Path) -> Path:
    """Edit like QField (WAL journal, no checkpoint) and copy the files while it is still open."""
    con = sqlite3.connect(gpkg)
    for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # GDAL's rtree triggers
        con.create_function(name, 1, lambda geom: 0)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    for target_id, status, visited_at, crew, note, photo in edits:
        con.execute("UPDATE targets SET status = ?, visited_at = ?, crew = ?, note = ?, photo = ? "
                    "WHERE target_id = ?", (status, visited_at, crew, note, photo, target_id))
    con.commit()
    returned.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{gpkg}{suffix}", returned / f"field.gpkg{suffix}")
    con.close()
    return returned / "field.gpkg"


def test_qfield_edits_left_in_the_wal_all_import(registry, package, tmp_path):
    reg = _copy_registry(registry, tmp_path)
    phone = Path(shutil.copytree(package.out_dir, tmp_path / "phone"))
    ids = [t.target_id for t in package.targets]
    edits = [(ids[0], "confirmed", "2026-03-12T09:15:00.000Z", "crew 1", "flowering", "DCIM/a.jpg"),
             (ids[1], "eradicated", "2026-03-12T10:00:00", "crew 1", "", "DCIM/b.jpg"),
             (ids[2], "false_positive", "2026-03-13T08:00:00Z", "crew 2", "tomatoes", "")]
    returned = _qfield_edit(phone / "field.gpkg", edits, tmp_path / "returned")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(returned, alone / "field.gpkg")  # the .gpkg without its -wal: edits lost
    assert import_verdicts(reg, [alone / "field.gpkg"])[0].applied == 0
    summary = import_verdicts(reg, [returned])[0]
    assert (summary.applied, len(summary.flagged), summary.skipped) == (3, 0, 3)
    states = dict(sqlite3.connect(reg).execute("SELECT target_id, state FROM targets"))
    assert [states[i] for i in ids[:3]] == ["confirmed", "eradicated", "false_positive"]
    before = reg.read_bytes()
    assert import_verdicts(reg, [returned])[0].already and reg.read_bytes() == before
    zipped = tmp_path / "returned.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for name in ("field.gpkg", "field.gpkg-wal", "field.gpkg-shm"):
            archive.write(tmp_path / "returned" / name, f"pack/{name}")
    assert import_verdicts(reg, [zipped])[0].already and reg.read_bytes() == before


def test_verdicts_from_other_apps_gpx_and_kml(registry, package, tmp_path):
    reg = _copy_registry(registry, tmp_path)
    ids = [t.target_id for t in package.targets]
    gpx = tmp_path / "osmand.gpx"
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="OsmAnd" '
        'xmlns="http://www.topografix.com/GPX/1/1">'
        f'<wpt lat="20.3" lon="99.0"><time>2026-03-14T07:00:00Z</time><name>{ids[3]}</name>'
        '<desc>Target rank 4. Checked: confirmed, photo taken</desc></wpt></gpx>')
    kml = tmp_path / "organic.kml"
    kml.write_text(
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f'<Placemark><name>{ids[4]} poppy?</name><description>not found here</description>'
        '<TimeStamp><when>2026-03-14T08:00:00Z</when></TimeStamp>'
        '<Point><coordinates>99.0,20.3,0</coordinates></Point></Placemark></Document></kml>')
    summaries = import_verdicts(reg, [gpx, kml])
    assert [s.applied for s in summaries] == [1, 1]
    rows = dict(sqlite3.connect(reg).execute("SELECT target_id, status || ' ' || visited_at "
                                             "FROM verdicts"))
    assert rows == {ids[3]: "confirmed 2026-03-14T07:00:00Z",
                    ids[4]: "not_found 2026-03-14T08:00:00Z"}


def _qgis_available() -> bool:
    if not os.path.exists(QGIS_PYTHON):
        return False
    done = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return done.returncode == 0


@pytest.mark.skipif(not _qgis_available(), reason="QGIS's Python bindings (python3-qgis) absent")
def test_qgis_opens_the_project_with_valid_layers_and_the_verdict_form(package):
    script = Path(__file__).with_name("qgis_check.py")
    done = subprocess.run([QGIS_PYTHON, str(script), str(package.paths["crew-pack.qgz"])],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["read"] and report["crs"] == "EPSG:3857"
    layers = report["layers"]
    assert set(layers) == {"Targets", "Plot outlines", "Imagery"}
    assert all(layer["valid"] for layer in layers.values())
    targets = layers["Targets"]
    assert targets["features"] == 6 and targets["renderer"] == "categorizedSymbol"
    assert targets["categories"] == {"high": "#e31a1c", "medium": "#ff7f00", "low": "#ffd92f"}
    status = targets["widgets"]["status"]
    codes = {code for entry in status["config"]["map"] for code in entry.values()}
    assert status["type"] == "ValueMap"
    assert {"pending", "confirmed", "false_positive", "not_found", "eradicated"} <= codes
    assert targets["widgets"]["photo"]["type"] == "ExternalResource"
    assert targets["widgets"]["visited_at"]["type"] == "DateTime"
    editable = {name for name, ok in targets["editable"].items() if ok}
    assert editable == {"status", "visited_at", "crew", "note", "photo"}
    assert targets["default_visited_at"] == "now()"
