"""Small image helpers shared by thumbnails and the report."""

from __future__ import annotations

import numpy as np

from poppyscan.tiles.raster import to_uint8

__all__ = ["display_uint8", "hex_to_bgr"]

DISPLAY_PERCENTILES = (2.0, 98.0)


def display_uint8(data: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Bands-first array to uint8 for people: as is when 8-bit, else a 2-98 % stretch.

    One stretch for all bands (grey stays grey) from the valid pixels only (not
    all-zero, not ``nodata``, finite); invalid pixels become 0.
    """
    if data.dtype == np.uint8:
        return data
    data = data.astype("float64")
    valid = np.any(data != 0, axis=0) & np.all(np.isfinite(data), axis=0)
    if nodata is not None and not np.isnan(nodata):
        valid &= np.all(data != nodata, axis=0)
    if not valid.any():
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = np.percentile(data[:, valid], DISPLAY_PERCENTILES)
    if high - low < 1e-12:  # flat crop: mid grey rather than black
        low, high = low - 1.0, high + 1.0
    out = to_uint8(data, ((low, high),) * len(data))
    out[:, ~valid] = 0
    return out


def hex_to_bgr(colour: str) -> tuple[int, int, int]:
    """``"#e31a1c"`` -> ``(28, 26, 227)`` for OpenCV."""
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r
