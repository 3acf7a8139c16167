"""Small image helpers shared by thumbnails and the report."""

from __future__ import annotations

import numpy as np

__all__ = ["hex_to_bgr", "to_uint8"]


def to_uint8(data: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Bands-first array to uint8: as is when already 8-bit, else a 2-98 percentile stretch.

    The stretch uses valid pixels only (not all-zero, not ``nodata``, finite);
    invalid pixels become 0.
    """
    if data.dtype == np.uint8:
        return data
    data = data.astype("float64")
    valid = np.any(data != 0, axis=0) & np.all(np.isfinite(data), axis=0)
    if nodata is not None and not np.isnan(nodata):
        valid &= np.all(data != nodata, axis=0)
    if not valid.any():
        return np.zeros(data.shape, dtype=np.uint8)
    lo, hi = np.percentile(data[:, valid], [2, 98])
    if hi - lo < 1e-12:  # flat crop: mid grey rather than black
        lo, hi = lo - 1.0, hi + 1.0
    scaled = (data - lo) / (hi - lo) * 255.0
    scaled[:, ~valid] = 0
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def hex_to_bgr(colour: str) -> tuple[int, int, int]:
    """``"#e31a1c"`` -> ``(28, 26, 227)`` for OpenCV."""
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r
