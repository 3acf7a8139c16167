"""GeoPackage, GPX and KML outputs read back through pyogrio (and GDAL itself for the domain)."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sqlite3

import numpy as np
import pyogrio
import pytest
import shapely
from pyogrio.raw import read as ogr_read

from poppyscan.detect.export import write_targets_gpkg, write_targets_gpx, write_targets_kml
from poppyscan.detect.targets import STATUSES
from tests.detect.export_samples import sample_targets
from tests.detect.gpx_schema import check_gpx_structure

# ---------------------------------------------------------------- GeoPackage


def test_gpkg_has_targets_and_plots_layers(tmp_path):
    path = write_targets_gpkg(sample_targets(), tmp_path / "targets.gpkg")

    layers = dict(pyogrio.list_layers(path))
    assert layers == {"targets": "Point", "plots": "Polygon"}
    info = pyogrio.read_info(path, layer="targets")
    assert info["crs"] == "EPSG:4326"
    assert info["features"] == 3
    assert list(info["fields"]) == [
        "target_id", "rank", "label", "conf", "area_m2", "status", "notes",
        "visit_time", "team", "sources", "thumbnail",
    ]  # fmt: skip
    assert info["ogr_types"][info["fields"].tolist().index("visit_time")] == "OFTDateTime"
    plots = pyogrio.read_info(path, layer="plots")
    assert list(plots["fields"]) == ["target_id", "conf", "area_m2"]
    assert plots["features"] == 3


def test_gpkg_values_are_ordered_and_ready_for_field_edits(tmp_path):
    path = write_targets_gpkg(sample_targets(), tmp_path / "targets.gpkg")

    _, _, wkb, values = ogr_read(path, layer="targets")
    fields = dict(zip(pyogrio.read_info(path, layer="targets")["fields"], values, strict=True))
    assert fields["target_id"].tolist() == ["M1-0001", "M1-0002", "M1-0003"]
    assert fields["rank"].tolist() == [1, 2, 3]
    assert fields["status"].tolist() == ["pending", "pending", "confirmed"]
    assert fields["notes"].tolist() == ["", "", ""]
    assert fields["team"].tolist() == ["", "", ""]
    assert np.isnat(fields["visit_time"]).all()
    assert fields["thumbnail"].tolist() == [None, None, None]
    assert fields["sources"][0] == "ortho_a.tif;ortho_b.tif"
    points = shapely.from_wkb(wkb)
    assert points[0].x == pytest.approx(sample_targets()[1].lon, abs=1e-12)
    # Plot polygons keep their hole.
    _, _, plot_wkb, _ = ogr_read(path, layer="plots")
    assert len(shapely.from_wkb(plot_wkb)[0].interiors) == 1


def test_gpkg_status_enum_constraint_in_sqlite(tmp_path):
    path = write_targets_gpkg(sample_targets(), tmp_path / "targets.gpkg")

    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (constraint,) = con.execute(
            "SELECT constraint_name FROM gpkg_data_columns "
            "WHERE table_name = 'targets' AND column_name = 'status'"
        ).fetchone()
        rows = con.execute(
            "SELECT constraint_type, value FROM gpkg_data_column_constraints WHERE constraint_name = ?",
            (constraint,),
        ).fetchall()
        extensions = con.execute(
            "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'"
        ).fetchall()
    assert {kind for kind, _ in rows} == {"enum"}
    assert sorted(value for _, value in rows) == sorted(STATUSES)
    assert sorted(extensions) == [("gpkg_data_column_constraints",), ("gpkg_data_columns",)]


def _gdal_library():
    """The GDAL library pyogrio runs on (its bundled copy), or None."""
    libs = os.path.join(os.path.dirname(os.path.dirname(pyogrio.__file__)), "pyogrio.libs")
    candidates = glob.glob(os.path.join(libs, "libgdal*")) or [ctypes.util.find_library("gdal")]
    try:
        return ctypes.CDLL(candidates[0]) if candidates[0] else None
    except OSError:
        return None


def _coded_domain(lib, path, layer: str, field: str) -> dict[str, str]:
    """Ask GDAL's C API which coded values it attaches to ``layer.field``."""
    vp, cp = ctypes.c_void_p, ctypes.c_char_p

    class CodedValue(ctypes.Structure):
        _fields_ = [("code", cp), ("value", cp)]

    for name, res, args in [
        ("GDALOpenEx", vp, [cp, ctypes.c_uint, vp, vp, vp]),
        ("GDALDatasetGetLayerByName", vp, [vp, cp]),
        ("OGR_L_GetLayerDefn", vp, [vp]),
        ("OGR_FD_GetFieldIndex", ctypes.c_int, [vp, cp]),
        ("OGR_FD_GetFieldDefn", vp, [vp, ctypes.c_int]),
        ("OGR_Fld_GetDomainName", cp, [vp]),
        ("GDALDatasetGetFieldDomain", vp, [vp, cp]),
        ("OGR_FldDomain_GetDomainType", ctypes.c_int, [vp]),
        ("OGR_CodedFldDomain_GetEnumeration", ctypes.POINTER(CodedValue), [vp]),
        ("GDALClose", None, [vp]),
    ]:
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    lib.GDALAllRegister()
    ds = lib.GDALOpenEx(os.fsencode(path), 0x04, None, None, None)  # GDAL_OF_VECTOR
    assert ds, "GDAL could not open the GeoPackage"
    try:
        defn = lib.OGR_L_GetLayerDefn(lib.GDALDatasetGetLayerByName(ds, layer.encode()))
        fld = lib.OGR_FD_GetFieldDefn(defn, lib.OGR_FD_GetFieldIndex(defn, field.encode()))
        name = lib.OGR_Fld_GetDomainName(fld)
        domain = lib.GDALDatasetGetFieldDomain(ds, name)
        assert domain and lib.OGR_FldDomain_GetDomainType(domain) == 0  # OFDT_CODED
        values, entries, i = {}, lib.OGR_CodedFldDomain_GetEnumeration(domain), 0
        while entries[i].code:
            values[entries[i].code.decode()] = entries[i].value.decode()
            i += 1
        return values
    finally:
        lib.GDALClose(ds)


def test_gdal_reads_status_as_a_coded_field_domain(tmp_path):
    lib = _gdal_library()
    if lib is None:
        pytest.skip("no GDAL shared library reachable through ctypes")
    path = write_targets_gpkg(sample_targets(), tmp_path / "targets.gpkg")

    domain = _coded_domain(lib, path, "targets", "status")

    assert sorted(domain) == sorted(STATUSES)
    assert domain["false_positive"] == "False positive"


def test_gpkg_with_no_targets_still_has_both_layers(tmp_path):
    path = write_targets_gpkg([], tmp_path / "empty.gpkg")

    assert dict(pyogrio.list_layers(path)) == {"targets": "Point", "plots": "Polygon"}
    assert pyogrio.read_info(path, layer="targets")["features"] == 0


# ---------------------------------------------------------------- GPX


def test_gpx_waypoints_named_id_first_in_rank_order(tmp_path):
    path = write_targets_gpx(sample_targets(), tmp_path / "targets.gpx")

    info = pyogrio.read_info(path, layer="waypoints", force_feature_count=True)
    assert info["features"] == 3
    _, _, wkb, values = ogr_read(path, layer="waypoints")
    fields = dict(zip(info["fields"], values, strict=True))
    assert fields["name"].tolist() == [
        "M1-0001 poppy? 91%",
        "M1-0002 poppy? 62%",
        "M1-0003 poppy? 31%",
    ]
    # The symbol of each one's priority (the third is confirmed standing: high).
    assert fields["sym"].tolist() == ["Flag, Red", "Flag, Blue", "Flag, Red"]
    assert fields["type"][0] == "poppy target (high confidence)"
    assert fields["desc"][0] == "Target M1-0001, high priority\nConfidence 91%, area 1250 m2"
    assert fields["cmt"][1] == "rank 2, conf 62%, 668 m2"
    xy = shapely.get_coordinates(shapely.from_wkb(wkb))
    assert xy[:, 0] == pytest.approx(
        [t.lon for t in sorted(sample_targets(), key=lambda t: t.rank)]
    )
    text = path.read_text(encoding="utf-8")
    assert text.count("<wpt ") == 3 and 'version="1.1"' in text
    check_gpx_structure(path)


# ---------------------------------------------------------------- KML


def test_kml_has_placemarks_and_plots(tmp_path):
    path = write_targets_kml(sample_targets(), tmp_path / "targets.kml")
    layers = dict(pyogrio.list_layers(path))

    assert list(layers) == ["Targets", "Plot outlines"]
    info = pyogrio.read_info(path, layer="Targets")
    name_field = next(f for f in info["fields"] if f.lower() == "name")
    _, _, wkb, values = ogr_read(path, layer="Targets")
    fields = dict(zip(info["fields"], values, strict=True))
    assert fields[name_field].tolist() == [
        "M1-0001 poppy? 91%",
        "M1-0002 poppy? 62%",
        "M1-0003 poppy? 31%",
    ]
    assert fields["description"][0] == "Target M1-0001, high priority<br/>Confidence 91%, area 1250 m2"
    assert fields["target_id"].tolist() == ["M1-0001", "M1-0002", "M1-0003"]
    lon, lat = shapely.get_coordinates(shapely.from_wkb(wkb))[0]
    assert (lon, lat) == pytest.approx((sample_targets()[1].lon, sample_targets()[1].lat))
    _, _, plot_wkb, _ = ogr_read(path, layer="Plot outlines")
    plots = shapely.from_wkb(plot_wkb)
    assert len(plots) == 3
    assert all(shapely.get_exterior_ring(p).is_ccw for p in plots)
    text = path.read_text(encoding="utf-8")
    assert text.count("<Placemark") == 6
    assert text.count("<styleUrl>#high</styleUrl>") == 2  # the third is confirmed standing


def test_kml_without_plots_writes_points_only(tmp_path):
    path = write_targets_kml(sample_targets(), tmp_path / "targets.kml", plots=False)

    text = path.read_text(encoding="utf-8")
    assert text.count("<Placemark") == 3
    assert "<Polygon>" not in text
    assert text.index("M1-0001 poppy? 91%") < text.index("M1-0002 poppy? 62%")


def test_multipolygon_plots_are_written_as_multipolygons(tmp_path):
    import dataclasses

    from shapely.geometry import MultiPolygon

    targets = sample_targets()
    two_parts = MultiPolygon([targets[0].polygon, targets[2].polygon])
    targets[0] = dataclasses.replace(targets[0], polygon=two_parts)

    gpkg = write_targets_gpkg(targets, tmp_path / "t.gpkg")
    kml = write_targets_kml(targets, tmp_path / "t.kml")

    assert dict(pyogrio.list_layers(gpkg))["plots"] == "MultiPolygon"
    plots = shapely.from_wkb(ogr_read(gpkg, layer="plots")[2])
    assert [p.geom_type for p in plots] == ["MultiPolygon"] * 3
    assert "<MultiGeometry>" in kml.read_text(encoding="utf-8")
