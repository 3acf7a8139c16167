"""Polygon scan conversion that gives the same pixels in whichever block it runs.

cv2.fillPoly clips edges at the image border with fixed-point steps, so the
same polygon rasterises slightly differently when the image starts elsewhere.
Here every crossing of an edge with a pixel-centre row is computed in *global*
pixel coordinates, so the result is a pure function of the polygon and the
pixel. A pixel is inside when its centre is (GDAL's convention); rings are
combined with the even-odd rule, so holes and multipolygons just work.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_mask"]


def fill_mask(rings_px: list[np.ndarray], row0: int, col0: int, nrows: int, ncols: int) -> np.ndarray:
    """Boolean ``(nrows, ncols)`` mask of pixels whose centres lie inside the rings.

    ``rings_px`` are ``(n, 2)`` arrays of global pixel coordinates (x = column,
    y = row; GDAL corner convention), closed or not.
    """
    x1 = np.concatenate([r[:, 0] for r in rings_px])
    y1 = np.concatenate([r[:, 1] for r in rings_px])
    x2 = np.concatenate([np.roll(r[:, 0], -1) for r in rings_px])
    y2 = np.concatenate([np.roll(r[:, 1], -1) for r in rings_px])
    ylo, yhi = np.minimum(y1, y2), np.maximum(y1, y2)
    # Rows whose centre r + 0.5 lies in [ylo, yhi): horizontal edges cross none.
    r_start = np.clip(np.ceil(ylo - 0.5).astype(np.int64), row0, row0 + nrows)
    r_end = np.clip(np.ceil(yhi - 0.5).astype(np.int64), row0, row0 + nrows)
    counts = np.maximum(r_end - r_start, 0)
    total = int(counts.sum())
    mask = np.zeros((nrows, ncols), bool)
    if total == 0:
        return mask
    edge = np.repeat(np.arange(len(x1)), counts)
    first = np.cumsum(counts) - counts
    rows = r_start[edge] + (np.arange(total) - first[edge])
    yc = rows + 0.5
    ex1, ey1 = x1[edge], y1[edge]
    xc = ex1 + (yc - ey1) * (x2[edge] - ex1) / (y2[edge] - ey1)
    # Each crossing flips inside/outside for pixel centres to its right.
    start = np.clip(np.ceil(xc - 0.5).astype(np.int64) - col0, 0, ncols)
    flips = np.bincount((rows - row0) * (ncols + 1) + start, minlength=nrows * (ncols + 1))
    flips = flips.reshape(nrows, ncols + 1)[:, :ncols]
    return (np.cumsum(flips, axis=1) & 1).astype(bool)
