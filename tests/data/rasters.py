"""Seeded synthetic rasters for tests: small, real CRSs, known pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

__all__ = ["ORIGIN", "UTM_47N", "collar_alpha", "make_raster"]

UTM_47N = "EPSG:32647"
ORIGIN = (500_000.0, 2_250_000.0)  # a UTM 47N point in northern Laos/Thailand hills


def make_raster(
    path: Path,
    width: int,
    height: int,
    *,
    gsd_m: float = 0.05,
    crs: str | None = UTM_47N,
    dtype: str = "uint8",
    count: int = 3,
    nodata: float | None = None,
    alpha: bool = False,
    seed: int = 0,
    origin: tuple[float, float] = ORIGIN,
    transform: Affine | None = None,
    **profile,
) -> Path:
    """Write a random raster; with ``alpha`` an extra alpha band marks a collar."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.normal(1000, 200, (count, height, width)).astype(dtype)
    else:
        high = min(np.iinfo(dtype).max, 4000) + 1
        data = rng.integers(1, high, (count, height, width)).astype(dtype)
    transform = transform or Affine(gsd_m, 0, origin[0], 0, -gsd_m, origin[1])
    bands = count + int(alpha)
    meta = dict(driver="GTiff", width=width, height=height, count=bands, dtype=dtype, crs=crs,
                transform=transform, nodata=nodata, **profile)
    with rasterio.open(path, "w", **meta) as dst:
        dst.write(data, list(range(1, count + 1)))
        if alpha:
            dst.write(collar_alpha(width, height), bands)
            dst.colorinterp = [*dst.colorinterp[:count], rasterio.enums.ColorInterp.alpha]
    return path


def collar_alpha(width: int, height: int) -> np.ndarray:
    """Alpha band: valid inside the left half, transparent collar on the right."""
    alpha = np.zeros((height, width), dtype="uint8")
    alpha[:, : width // 2] = 255
    return alpha
