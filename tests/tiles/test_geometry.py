"""Reprojection and the UTM zone: the one home of each for every package."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine

from poppyscan.errors import ConfigError
from poppyscan.tiles.geometry import mask_to_polygon, reproject_geometry, utm_crs

SQUARE = shapely.box(500_000, 2_000_000, 500_100, 2_000_100)  # 100 m, UTM 47N


def test_reprojection_densifies_edges_unless_told_not_to():
    dense = reproject_geometry(SQUARE, "EPSG:32647", "EPSG:4326", max_segment=10.0)
    plain = reproject_geometry(SQUARE, "EPSG:32647", "EPSG:4326", max_segment=None)
    assert shapely.get_num_coordinates(plain) == 5  # the ring's corners only
    assert shapely.get_num_coordinates(dense) == 41  # a vertex every 10 m
    assert dense.bounds == pytest.approx(plain.bounds, abs=1e-9)


def test_reprojection_takes_one_step_per_geometry_and_skips_the_same_crs():
    both = np.array([SQUARE, SQUARE], dtype=object)
    out = reproject_geometry(both, "EPSG:32647", "EPSG:3857", max_segment=np.array([50.0, 25.0]))
    assert shapely.get_num_coordinates(out).tolist() == [9, 17]
    assert reproject_geometry(SQUARE, "EPSG:32647", "EPSG:32647") is SQUARE


def test_utm_zone_is_the_one_holding_the_point():
    assert utm_crs(101.99, 20.0).to_epsg() == 32647  # zone 47 ends at 102 E
    assert utm_crs(102.01, 20.0).to_epsg() == 32648
    assert utm_crs(102.01, -20.0).to_epsg() == 32748  # south of the equator
    with pytest.raises(ConfigError, match="UTM spans 80S to 84N"):
        utm_crs(10.0, 86.0)


def test_mask_polygon_traced_on_cells_counts_mostly_valid_cells():
    transform = Affine(0.05, 0, 500_000, 0, -0.05, 2_000_000)
    mask = np.zeros((64, 64), dtype=bool)
    mask[:, :40] = True  # 40 px: two whole 16 px cells and half of the third
    assert mask_to_polygon(mask, transform).area == pytest.approx(64 * 40 * 0.05**2)
    assert mask_to_polygon(mask, transform, cell_px=16).area == pytest.approx(64 * 48 * 0.05**2)
    mask[:, :] = True
    assert mask_to_polygon(mask, transform, cell_px=16).equals(shapely.box(500_000, 1_999_996.8,
                                                                           500_003.2, 2_000_000))
    assert mask_to_polygon(np.zeros((8, 8), dtype=bool), transform).is_empty
