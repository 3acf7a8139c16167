"""One target, one symbol and one description in every file a crew opens (run and package)."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from poppyscan.detect.export.gpx_kml import SYMBOLS
from poppyscan.field import write_field_package
from poppyscan.field.registry.naming import record_and_name
from tests.detect.export_samples import write_sample_run

GPX = "{http://www.topografix.com/GPX/1/1}"
KML = "{http://www.opengis.net/kml/2.2}"


def _gpx(path: Path) -> dict[str, tuple[str, str]]:
    """target id -> (symbol, description) of each waypoint (our own file: ElementTree is safe)."""
    root = ET.parse(path).getroot()
    return {w.findtext(f"{GPX}name").split()[0]: (w.findtext(f"{GPX}sym"), w.findtext(f"{GPX}desc"))
            for w in root.iter(f"{GPX}wpt")}


def _kml(doc: bytes) -> dict[str, tuple[str, str]]:
    """target id -> (GPX symbol of its style, description as plain text) of each placemark."""
    root = ET.fromstring(doc)
    out = {}
    for mark in root.iter(f"{KML}Placemark"):
        if mark.get("id") is None:  # an outline
            continue
        text = re.sub(r"^<img [^>]*/><br/>", "", mark.findtext(f"{KML}description"))
        symbol = SYMBOLS[mark.findtext(f"{KML}styleUrl").lstrip("#")]
        out[mark.get("id")] = symbol, html.unescape(text).replace("<br/>", "\n")
    return out


def test_a_target_looks_the_same_in_the_runs_and_the_packages_files(tmp_path):
    run = write_sample_run(tmp_path / "run")  # 91%, 62%, 31% sure: one of each priority
    registry = tmp_path / "area.gpkg"
    record_and_name(registry, run, prefix="AREA")  # the run's files call plots by registry ids
    package = write_field_package(registry, tmp_path / "pack", crews=2)
    with zipfile.ZipFile(package.paths["targets.kmz"]) as kmz:
        in_kmz = _kml(kmz.read("doc.kml"))
    in_run_gpx, in_run_kml = _gpx(run / "targets.gpx"), _kml((run / "targets.kml").read_bytes())
    in_gpx = _gpx(package.paths["targets.gpx"])

    assert len(package.targets) == 3
    assert set(in_run_gpx) == set(in_run_kml) == set(in_gpx) == set(in_kmz)
    for t in package.targets:
        symbol, described = in_run_gpx[t.target_id]
        assert described == (f"Target {t.target_id}, {t.priority} priority\n"
                             f"Confidence {round(t.conf * 100):d}%, area {t.area_m2:.0f} m2")
        assert symbol == SYMBOLS[t.priority]
        assert in_run_kml[t.target_id] == (symbol, described)
        # The package adds what only it knows, after the same lines.
        added = f"\nSeen 1x, last 2026-03-01\n{t.crew}, stop {t.visit_order}"
        assert in_gpx[t.target_id] == in_kmz[t.target_id] == (symbol, described + added)
    assert {s for s, _ in in_gpx.values()} == {SYMBOLS[t.priority] for t in package.targets}
    assert sorted(t.priority for t in package.targets) == ["high", "low", "medium"]
