"""Small georeferenced chips and comparison helpers for the label tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from rasterio.transform import from_origin

from tests.data.rasters import UTM_47N, make_raster

CRS_UTM = UTM_47N
GSD_M = 0.05
SIZE_PX = 64
ORIGIN = (652_000.0, 2_300_000.0)
# Not a multiple of the pixel size: catches any rounding of the origin.
FRACTIONAL_ORIGIN = (652_003.2171, 2_300_001.0334)


def make_chip(
    path: Path,
    *,
    origin: tuple[float, float] = ORIGIN,
    size_px: int = SIZE_PX,
    gsd_m: float = GSD_M,
    seed: int = 0,
) -> Affine:
    """Write a seeded RGB uint8 GeoTIFF chip (see tests.data.rasters); return its transform."""
    path.parent.mkdir(parents=True, exist_ok=True)
    transform = from_origin(origin[0], origin[1], gsd_m, gsd_m)
    make_raster(path, size_px, size_px, crs=CRS_UTM, seed=seed, transform=transform)
    return transform


def max_distance(a, b) -> float:
    """Largest Hausdorff distance between matching geometries of two sequences."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert len(a) == len(b), (len(a), len(b))
    return float(np.max(shapely.hausdorff_distance(a, b))) if len(a) else 0.0
