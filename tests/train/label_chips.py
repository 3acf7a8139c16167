"""Small georeferenced chips and comparison helpers for the label tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.transform import from_origin

CRS_UTM = "EPSG:32647"
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
    crs: str | None = CRS_UTM,
    seed: int = 0,
    driver: str = "GTiff",
) -> Affine:
    """Write a seeded RGB uint8 chip; return its transform."""
    transform = from_origin(origin[0], origin[1], gsd_m, gsd_m)
    data = np.random.default_rng(seed).integers(0, 256, (3, size_px, size_px), dtype="uint8")
    profile = {"driver": driver, "width": size_px, "height": size_px, "count": 3, "dtype": "uint8"}
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return transform


def max_distance(a, b) -> float:
    """Largest Hausdorff distance between matching geometries of two sequences."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert len(a) == len(b), (len(a), len(b))
    return float(np.max(shapely.hausdorff_distance(a, b))) if len(a) else 0.0
