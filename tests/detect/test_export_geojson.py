"""GeoJSON outputs checked against RFC 7946 by a validator written here, not the writer's helpers."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pyogrio
import pytest
from shapely.geometry import box

from poppyscan.detect.export import (
    write_coverage_geojson,
    write_plots_geojson,
    write_targets_geojson,
)
from poppyscan.detect.export.coverage import area_m2
from tests.detect.export_samples import sample_targets

# ---------------------------------------------------------------- independent RFC 7946 checker


def _signed_area(ring: list[list[float]]) -> float:
    """Shoelace sum: > 0 for counter-clockwise rings (x east, y north)."""
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))


def _decimals(value: float) -> int:
    exponent = Decimal(repr(value)).as_tuple().exponent
    return max(0, -exponent)


def _positions(geometry: dict) -> list[list[float]]:
    kind, coords = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        return [coords]
    if kind == "Polygon":
        return [p for ring in coords for p in ring]
    if kind == "MultiPolygon":
        return [p for poly in coords for ring in poly for p in ring]
    raise AssertionError(f"unexpected geometry type {kind}")


def _polygons(geometry: dict) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return []


def check_rfc7946(doc: dict) -> list[str]:
    """Return every RFC 7946 violation found in a FeatureCollection (empty list = valid)."""
    errors = []
    if doc.get("type") != "FeatureCollection":
        errors.append("top level is not a FeatureCollection")
    if "crs" in doc or any("crs" in f for f in doc.get("features", [])):
        errors.append("a 'crs' member is present (RFC 7946 section 4 removed it)")
    all_positions = []
    for feat in doc["features"]:
        fid = feat.get("id")
        if feat.get("type") != "Feature":
            errors.append(f"{fid}: not a Feature")
        if not isinstance(fid, str):
            errors.append(f"{fid!r}: id is not a string")
        if fid != feat["properties"].get("target_id", fid):
            errors.append(f"{fid}: id differs from properties.target_id")
        positions = _positions(feat["geometry"])
        all_positions += positions
        for lon, lat in positions:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                errors.append(f"{fid}: position {lon}, {lat} outside WGS84 lon/lat")
            if _decimals(lon) > 7 or _decimals(lat) > 7:
                errors.append(f"{fid}: position {lon}, {lat} has more than 7 decimals")
        for polygon in _polygons(feat["geometry"]):
            for i, ring in enumerate(polygon):
                if len(ring) < 4 or ring[0] != ring[-1]:
                    errors.append(f"{fid}: ring {i} is not closed or has < 4 positions")
                area = _signed_area(ring)
                if i == 0 and area <= 0:
                    errors.append(f"{fid}: outer ring is not counter-clockwise")
                if i > 0 and area >= 0:
                    errors.append(f"{fid}: hole {i} is not clockwise")
    if all_positions:
        bbox = doc.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            errors.append("FeatureCollection has no 2D bbox")
        else:
            west, south, east, north = bbox
            outside = [
                p for p in all_positions if not (west <= p[0] <= east and south <= p[1] <= north)
            ]
            if outside:
                errors.append(f"{len(outside)} positions outside the bbox")
            lons = [p[0] for p in all_positions]
            lats = [p[1] for p in all_positions]
            if bbox != [min(lons), min(lats), max(lons), max(lats)]:
                errors.append(f"bbox {bbox} is not the tight bounds of the positions")
    return errors


def test_checker_catches_what_it_should():
    bad = {
        "type": "FeatureCollection",
        "crs": {"type": "name"},
        "features": [
            {
                "type": "Feature",
                "id": 7,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [0, 1], [1.123456789, 1], [0, 0]]],
                },
                "properties": {},
            }
        ],
    }
    found = " | ".join(check_rfc7946(bad))
    for needle in ("crs", "id is not a string", "7 decimals", "counter-clockwise", "bbox"):
        assert needle in found


# ---------------------------------------------------------------- targets and plots


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_targets_geojson_is_rfc7946_points_in_rank_order(tmp_path):
    targets = sample_targets()
    doc = _load(write_targets_geojson(targets, tmp_path / "targets.geojson"))

    assert check_rfc7946(doc) == []
    assert [f["id"] for f in doc["features"]] == ["M1-0001", "M1-0002", "M1-0003"]
    assert [f["properties"]["rank"] for f in doc["features"]] == [1, 2, 3]
    assert {f["geometry"]["type"] for f in doc["features"]} == {"Point"}
    by_id = {t.target_id: t for t in targets}
    for feat in doc["features"]:
        t = by_id[feat["id"]]
        assert feat["geometry"]["coordinates"] == [round(t.lon, 7), round(t.lat, 7)]


def test_target_properties_carry_style_and_every_field(tmp_path):
    doc = _load(write_targets_geojson(sample_targets(), tmp_path / "t.geojson"))
    first, second, third = (f["properties"] for f in doc["features"])

    assert first["name"] == "M1-0001 poppy? 91%"
    assert first["name"].startswith(first["target_id"])
    # The colour of each one's priority: the third, 31% sure, is confirmed standing, so high.
    assert [p["marker-color"] for p in (first, second, third)] == ["#e31a1c", "#ff7f00", "#e31a1c"]
    assert first["description"] == "Target M1-0001, high priority\nConfidence 91%, area 1250 m2"
    assert third["description"].startswith("Target M1-0003, high priority\n")
    assert first["sources"] == "ortho_a.tif;ortho_b.tif"
    assert third["status"] == "confirmed"
    assert first["thumbnail"] is None
    for key in (
        "mission",
        "conf",
        "area_m2",
        "lon",
        "lat",
        "gsd_m",
        "model_id",
        "detected_at",
        "n_detections",
        "title",
    ):
        assert key in first
    assert first["conf"] == 0.91 and first["n_detections"] == 5


def test_plots_geojson_fixes_winding_and_rounds(tmp_path):
    doc = _load(write_plots_geojson(sample_targets(), tmp_path / "plots.geojson"))

    assert check_rfc7946(doc) == []
    assert [f["id"] for f in doc["features"]] == ["M1-0001", "M1-0002", "M1-0003"]
    with_hole = doc["features"][0]["geometry"]["coordinates"]
    assert len(with_hole) == 2  # the hole survived
    # The clockwise input came out counter-clockwise and rounded to 7 decimals.
    ring = doc["features"][1]["geometry"]["coordinates"][0]
    assert _signed_area(ring) > 0
    assert ring[0] == [98.5012346, 20.3009877]


def test_geojson_reads_back_with_pyogrio(tmp_path):
    path = write_plots_geojson(sample_targets(), tmp_path / "plots.geojson")
    info = pyogrio.read_info(path)

    assert info["features"] == 3
    assert info["crs"] == "EPSG:4326"
    assert info["geometry_type"] == "Polygon"
    assert {"target_id", "conf", "area_m2", "status", "name"} <= set(info["fields"])


def test_empty_target_list_is_an_empty_collection(tmp_path):
    doc = _load(write_targets_geojson([], tmp_path / "none.geojson"))

    assert doc == {"type": "FeatureCollection", "features": []}


# ---------------------------------------------------------------- coverage


def test_coverage_unions_reprojects_and_reports_area(tmp_path):
    # Two overlapping 1 km x 1 km / 1.5 km x 0.5 km chips footprints in UTM 47N.
    chips = [
        box(500_000, 2_245_000, 501_000, 2_246_000),
        box(500_500, 2_245_500, 502_000, 2_246_000),
    ]
    area_km2 = write_coverage_geojson(chips, "EPSG:32647", tmp_path / "coverage.geojson")
    doc = _load(tmp_path / "coverage.geojson")

    assert area_km2 == pytest.approx(1.5)
    assert check_rfc7946(doc) == []
    (feat,) = doc["features"]
    assert feat["properties"] == {"area_km2": 1.5, "n_chips": 2}
    assert feat["geometry"]["type"] == "Polygon"
    # Densified: the 2 km bottom edge (split at x=501 km by the union) has extra vertices.
    assert len(feat["geometry"]["coordinates"][0]) > 40
    west, south, east, north = doc["bbox"]
    assert 98.99 < west < 99.0 + 1e-6 and 99.01 < east < 99.02  # UTM 47N, 500 km = 99 E
    assert 20.30 < south < north < 20.32


def test_coverage_in_feet_and_degrees_is_measured_in_metres():
    # EPSG:2229 is in US survey feet; EPSG:4326 is degrees: both must give m2.
    assert area_m2(box(0, 0, 1000, 1000), "EPSG:2229") == pytest.approx(
        1000**2 * 0.3048006**2, rel=1e-6
    )
    deg = box(98.5, 20.3, 98.51, 20.31)
    expected = (0.01 * 111_320 * math.cos(math.radians(20.305))) * (0.01 * 110_700)
    assert area_m2(deg, "EPSG:4326") == pytest.approx(expected, rel=0.01)


def test_empty_coverage_writes_an_empty_collection(tmp_path):
    area_km2 = write_coverage_geojson([], "EPSG:32647", tmp_path / "c.geojson", n_chips=0)

    assert area_km2 == 0.0
    assert _load(tmp_path / "c.geojson") == {"type": "FeatureCollection", "features": []}


def test_multipolygon_plot_is_valid_rfc7946(tmp_path):
    import dataclasses

    from shapely.geometry import MultiPolygon

    targets = sample_targets()
    # The clockwise square and the triangle as one two-part plot.
    two_parts = MultiPolygon([targets[0].polygon, targets[2].polygon])
    targets[0] = dataclasses.replace(targets[0], polygon=two_parts)

    doc = _load(write_plots_geojson(targets, tmp_path / "plots.geojson"))

    assert check_rfc7946(doc) == []
    assert doc["features"][1]["geometry"]["type"] == "MultiPolygon"
