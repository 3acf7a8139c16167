"""A light spatial index for many axis-aligned boxes (tree crowns and their shadows).

A 2 km survey holds ~2x10^5 crowns; an STRtree over shapely boxes costs
~100 MB there, this index a few arrays. Boxes are bucketed by the grid cell of
their centre; a query widens its window by the largest half-size.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxIndex"]

_ROW = np.int64(1 << 31)  # key = col * _ROW + row: cells stay distinct for any survey


class BoxIndex:
    """Boxes ``x0, y0, x1, y1`` (arrays); :meth:`query` returns the indexes meeting a window."""

    def __init__(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray,
                 *, cell_m: float = 32.0) -> None:
        self.bounds = np.stack([x0, y0, x1, y1]).astype(np.float64)
        self.cell_m = float(cell_m)
        n = self.bounds.shape[1]
        self.half_m = (float(max((x1 - x0).max(), (y1 - y0).max())) / 2) if n else 0.0
        keys = self._key((x0 + x1) / 2, (y0 + y1) / 2)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def _key(self, x, y) -> np.ndarray:
        col = np.floor(np.asarray(x) / self.cell_m).astype(np.int64)
        row = np.floor(np.asarray(y) / self.cell_m).astype(np.int64)
        return col * _ROW + row

    def query(self, bounds: tuple[float, float, float, float]) -> np.ndarray:
        """Sorted indexes of the boxes that intersect ``bounds`` (x0, y0, x1, y1)."""
        if not len(self.keys):
            return np.zeros(0, np.intp)
        qx0, qy0, qx1, qy1 = bounds
        h = self.half_m
        c0, c1 = (int(np.floor((v) / self.cell_m)) for v in (qx0 - h, qx1 + h))
        r0, r1 = (int(np.floor((v) / self.cell_m)) for v in (qy0 - h, qy1 + h))
        cols = np.arange(c0, c1 + 1, dtype=np.int64)
        lo = np.searchsorted(self.keys, cols * _ROW + r0, side="left")
        hi = np.searchsorted(self.keys, cols * _ROW + r1, side="right")
        if not (hi > lo).any():
            return np.zeros(0, np.intp)
        cand = self.order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])]
        x0, y0, x1, y1 = self.bounds[:, cand]
        hit = (x0 <= qx1) & (x1 >= qx0) & (y0 <= qy1) & (y1 >= qy0)
        return np.sort(cand[hit])
