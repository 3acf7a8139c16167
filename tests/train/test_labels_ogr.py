"""Vector label files in any CRS, and the LabelSet they become."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely
from pyogrio.raw import write as ogr_write
from rasterio.transform import from_origin

from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import pixel_boxes_to_polygons
from poppyscan.train.labels import LabelSet, read_labels
from poppyscan.train.labels.ogr import read_ogr
from tests.train.label_chips import FRACTIONAL_ORIGIN, GSD_M, max_distance

UTM = "EPSG:32647"
# Two plots on a chip grid in UTM 47N (boxes in pixels of a 0.05 m chip).
TRANSFORM = from_origin(*FRACTIONAL_ORIGIN, GSD_M, GSD_M)
PLOTS_UTM = pixel_boxes_to_polygons(
    TRANSFORM, np.array([[3.0, 5.0, 20.0, 17.5], [30.25, 40.0, 60.0, 63.0]])
)


def _write(path, geoms, crs, *, fields=None, driver=None, layer=None):
    fields = fields or {}
    kinds = {g.geom_type for g in geoms}
    ogr_write(
        str(path),
        geometry=shapely.to_wkb(np.asarray(geoms, dtype=object)),
        field_data=[np.array(v, dtype=object) for v in fields.values()],
        fields=list(fields),
        crs=crs,
        driver=driver,
        layer=layer,
        geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown",
    )


def test_geojson_in_wgs84_comes_back_onto_utm(tmp_path):
    wgs84 = LabelSet(PLOTS_UTM, ("poppy", "other"), UTM, "test").to_crs("EPSG:4326")
    path = tmp_path / "plots.geojson"
    _write(path, wgs84.geometries, "EPSG:4326", fields={"label": ["poppy", "other"]})
    labels = read_labels(path)
    assert labels.crs.to_epsg() == 4326
    assert labels.classes == ("poppy", "other")
    back = labels.to_crs(UTM)
    assert max_distance(back.geometries, PLOTS_UTM) < 1e-6  # metres


def test_gpkg_in_web_mercator_with_multipolygon_invalid_ring_and_other_field(tmp_path):
    merc = LabelSet(PLOTS_UTM, ("a", "b"), UTM, "test").to_crs("EPSG:3857").geometries
    multi = shapely.MultiPolygon(list(merc))
    # Bow tie: make_valid splits it into two triangles.
    x0, y0, x1, y1 = merc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    path = tmp_path / "plots.gpkg"
    _write(path, [multi, bowtie], "EPSG:3857", fields={"kind": ["poppy", "other"]}, driver="GPKG")
    labels = read_ogr(path, class_field="kind")
    assert labels.classes == ("poppy", "poppy", "other", "other")
    assert all(g.is_valid for g in labels.geometries)
    back = labels.to_crs(UTM)
    assert max_distance(back.geometries[:2], PLOTS_UTM) < 1e-6
    assert sum(g.area for g in labels.geometries[2:]) == pytest.approx(
        (x1 - x0) * (y1 - y0) / 2, rel=1e-9
    )


def test_missing_class_is_an_error_unless_a_default_class_is_given(tmp_path):
    path = tmp_path / "plots.gpkg"
    _write(path, PLOTS_UTM, UTM, fields={"note": ["x", None]}, driver="GPKG")
    with pytest.raises(LabelError, match=r"plots\.gpkg: no 'label' field .*--default-class"):
        read_labels(path)
    assert read_labels(path, default_class="field").classes == ("field", "field")
    _write(
        tmp_path / "named.gpkg", PLOTS_UTM, UTM, fields={"label": ["opium", None]}, driver="GPKG"
    )
    with pytest.raises(LabelError, match=r"named\.gpkg: feature 1 \(label field\) has no class"):
        read_labels(tmp_path / "named.gpkg")
    assert read_labels(tmp_path / "named.gpkg", default_class="poppy").classes == ("opium", "poppy")


def test_points_are_rejected_naming_the_file(tmp_path):
    path = tmp_path / "centres.geojson"
    _write(path, [shapely.Point(652_000, 2_300_000)], UTM, fields={"label": ["poppy"]})
    with pytest.raises(LabelError, match=r"centres\.geojson: feature 0 is a Point"):
        read_labels(path)


def test_missing_crs_names_the_file(tmp_path):
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):
        _write(path, PLOTS_UTM, None, fields={"label": ["a", "b"]}, driver="ESRI Shapefile")
    with pytest.raises(LabelError, match=r"nocrs\.shp: vector file has no CRS"):
        read_labels(path)


def test_several_layers_need_a_choice(tmp_path):
    path = tmp_path / "two.gpkg"
    _write(path, PLOTS_UTM[:1], UTM, fields={"label": ["a"]}, driver="GPKG", layer="first")
    _write(path, PLOTS_UTM[1:], UTM, fields={"label": ["b"]}, driver="GPKG", layer="second")
    with pytest.raises(LabelError, match=r"two\.gpkg: has 2 layers \(first, second\)"):
        read_labels(path)
    assert read_labels(path, layer="second").classes == ("b",)


def test_labelset_write_read_round_trip(tmp_path):
    labels = LabelSet(PLOTS_UTM, ("poppy", "other"), UTM, "plots.csv")
    for name in ("out.gpkg", "out.geojson"):
        path = labels.write(tmp_path / name)
        back = read_labels(path)
        assert back.classes == labels.classes
        assert back.crs == labels.crs
        assert max_distance(back.geometries, PLOTS_UTM) < 1e-6
    assert pyogrio.list_layers(str(tmp_path / "out.gpkg"))[0][0] == "labels"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.geojson",
        "out.gpkg",
    ]  # no temp files left
    with pytest.raises(ConfigError, match=".geojson, .gpkg, .json"):
        labels.write(tmp_path / "out.kml")


def test_labelset_concat_reprojects_and_validates():
    utm = LabelSet(PLOTS_UTM[:1], ("a",), UTM, "one")
    wgs = LabelSet(PLOTS_UTM[1:], ("b",), UTM, "two").to_crs("EPSG:4326")
    both = LabelSet.concat([utm, wgs])
    assert both.crs.to_epsg() == 32647 and both.classes == ("a", "b") and both.source == "one;two"
    assert max_distance(both.geometries, PLOTS_UTM) < 1e-6
    assert len(LabelSet.concat([], crs=UTM)) == 0
    with pytest.raises(ConfigError, match="2 geometries but 1 classes"):
        LabelSet(PLOTS_UTM, ("a",), UTM, "x")
    with pytest.raises(ConfigError, match="must be a Polygon"):
        LabelSet(np.array([shapely.Point(0, 0)], dtype=object), ("a",), UTM, "x")


def test_to_crs_densifies_edges():
    wgs = LabelSet(PLOTS_UTM[:1], ("a",), UTM, "x").to_crs("EPSG:4326")
    assert shapely.get_num_coordinates(wgs.geometries[0]) > 5
