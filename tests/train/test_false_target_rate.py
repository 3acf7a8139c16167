"""The false-target benchmark on real poppy-free imagery: true areas, grouping, the script."""

import importlib.util
import json
import sys

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS, Geod

from poppyscan.detect.bundle import load_bundle
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.false_target_rate import (
    GROUND_CLASSES,
    false_target_rates,
    ground_area_m2,
    ground_class,
    imagery_footprint,
    pooled_rates,
    write_contact_sheet,
    write_grouped_sheet,
)


def geodesic_area_m2(geom, crs) -> float:
    lonlat = reproject_geometry(geom, crs, "EPSG:4326", max_segment=1.0)
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(lonlat)[0])


def test_world_mercator_area_is_ground_area_not_map_area(real_dir):
    path = real_dir / "oamtcd_brazil_10cm.tif"
    with rasterio.open(path) as src:
        footprint, crs = shapely.box(*src.bounds), CRS(src.crs)
    area_m2, measured_in = ground_area_m2(footprint, crs)
    assert measured_in == "EPSG:32722"  # UTM 22S, where the tile lies
    assert area_m2 == pytest.approx(geodesic_area_m2(footprint, crs), rel=2e-3)
    assert area_m2 < 0.94 * footprint.area  # the map area is 1/cos^2(15.7 S) too large


def test_utm_area_is_measured_in_place(real_dir):
    with rasterio.open(real_dir / "SJER_477.tif") as src:
        footprint, crs = shapely.box(*src.bounds), CRS(src.crs)
    area_m2, measured_in = ground_area_m2(footprint, crs)
    assert measured_in == "EPSG:32611" and area_m2 == pytest.approx(footprint.area)


def test_black_collar_without_a_mask_is_not_examined_ground(real_dir):
    path = real_dir / "oamtcd_philippines_10cm.tif"  # no nodata, a black collar in one corner
    with rasterio.open(path) as src:
        full = shapely.box(*src.bounds)
    imagery = imagery_footprint(path)
    assert 0.75 < imagery.area / full.area < 0.90


@pytest.mark.parametrize(("rgb", "kind"), [
    ((20, 25, 20), "shadow or dark"),
    ((60, 140, 50), "green vegetation"),
    ((120, 130, 115), "grey-green vegetation"),
    ((210, 205, 200), "bright or built"),
    ((170, 150, 120), "bare ground or dry grass"),
])
def test_ground_classes_by_colour(rgb, kind):
    assert ground_class(np.full((8, 8, 3), rgb, np.uint8)) == kind
    assert kind in GROUND_CLASSES


@pytest.fixture(scope="module")
def sjer_rates(real_dir):
    # SJER_477 at 0.1 m gives 2 x 2 chips at the demo model's 5 cm grid.
    return false_target_rates([real_dir / "SJER_477.tif", real_dir / "landsat_rgb_nodata_collar.tif"],
                              load_bundle(), confs=(0.05, 0.9), workers=1)


def test_rates_per_threshold_from_one_run(sjer_rates):
    rates, skipped = sjer_rates
    assert [s.path.name for s in skipped] == ["landsat_rgb_nodata_collar.tif"]
    assert "coarser than the model's" in skipped[0].reason
    (rate,) = rates
    assert rate.measured_in == "EPSG:32611"
    assert rate.area_m2 == pytest.approx(400 * 400 * 0.10023500 * 0.09974750, rel=0.02)
    low, high = rate.targets[0.05], rate.targets[0.9]
    assert len(low) >= 1 and len(high) <= len(low)
    assert all(t.conf >= 0.05 and t.lies_on in GROUND_CLASSES for t in low)
    n, km2, per_km2 = pooled_rates(rates, 0.05)
    assert n == len(low) and per_km2 == pytest.approx(n / km2)


def test_contact_sheet_groups_thumbnails(sjer_rates, tmp_path):
    rates, _ = sjer_rates
    sheet = write_contact_sheet(rates, 0.05, tmp_path / "sheet.png", thumbs_dir=tmp_path / "thumbs",
                                per_row=4, thumb_px=96)
    import cv2

    image = cv2.imread(str(sheet))
    n = len(rates[0].targets[0.05])
    assert image.shape[1] == 4 * 96 and len(list((tmp_path / "thumbs").glob("*.jpg"))) == n


def test_script_writes_table_json_and_sheet(real_dir, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("false_targets", "scripts/false_targets.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", ["false_targets.py", str(real_dir / "SJER_477.tif"),
                                      "--out", str(tmp_path / "ft"), "--conf", "0.05"])
    script.main()
    table = (tmp_path / "ft" / "false_targets.md").read_text()
    assert "| SJER_477.tif | yes | EPSG:32611 |" in table and "pooled, held out" in table
    data = json.loads((tmp_path / "ft" / "false_targets.json").read_text())
    assert data["images"][0]["image"] == "SJER_477.tif" and data["held_out"]
    assert (tmp_path / "ft" / "contact_sheet.png").stat().st_size > 0


def test_grouped_sheet_lays_out_groups_and_follows_the_suffix(tmp_path):
    import cv2

    red = np.zeros((50, 40, 3), np.uint8)
    red[..., 2] = 255
    groups = {"wildflower": [(red, "s900 0.81")] * 5, "rock": [(red, "s901 0.74")], "roof": []}
    sheet = write_grouped_sheet(groups, tmp_path / "sheet.jpg", per_row=4, thumb_px=64)
    assert sheet.read_bytes()[:2] == b"\xff\xd8"  # JPEG, as the suffix says
    image = cv2.imread(str(sheet))
    # two caption bars (the empty group is left out), two rows of wildflowers, one of rock
    assert image.shape == (2 * 28 + 3 * (64 + 20), 4 * 64, 3)
    assert image[28 + 32, 32, 2] > 200 and image[28 + 32, 32, 0] < 60  # the first thumbnail, red
    empty = write_grouped_sheet({"roof": []}, tmp_path / "empty.png", per_row=4, thumb_px=64,
                                empty="no false targets")
    assert cv2.imread(str(empty)).shape == (28, 4 * 64, 3)
