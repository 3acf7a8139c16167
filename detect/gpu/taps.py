"""GDAL's chip resampling as separable taps: a few source pixels and weights per output pixel.

:class:`~poppyscan.tiles.reader.ChipReader` reads a chip through GDAL with
``average`` when shrinking, ``bilinear`` when enlarging and ``nearest`` at
1:1 (:func:`~poppyscan.tiles.reader.resampling_for`), on a source window
that may start and end inside a pixel. These are the same rules along one
axis, written as taps so a device can apply them with a handful of gathers:
output pixel ``i`` is ``sum_t weights[i, t] * source[lo + index[i, t]]``.

- ``average``: the source span ``[start + i*scale, start + (i+1)*scale)``,
  each pixel weighted by the part of it inside the span (fractional pixels
  at both ends count by their fraction, as GDAL >= 3.1 does);
- ``bilinear``: the two pixels around ``start + (i + 0.5)*scale - 0.5``,
  clamped at the raster's edge (GDAL reads past the window, not past the raster);
- ``nearest``: the pixel under ``start + (i + 0.5)*scale``.

GDAL leaves masked pixels out of ``average`` and ``bilinear``: apply the taps
to ``pixels * mask`` and to ``mask`` and divide (see :mod:`.feed`). Checked
against GDAL 3.10 on lossless rasters: equal within one level, collar included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["AxisTaps", "axis_taps", "nearest_index"]

KINDS = ("nearest", "average", "bilinear")
_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class AxisTaps:
    """Taps of one axis: source pixels ``[lo, hi)`` feed ``n_out`` output pixels."""

    lo: int
    hi: int
    index: np.ndarray  # (n_out, n_taps) int64, relative to lo
    weights: np.ndarray  # (n_out, n_taps) float32, rows sum to 1
    key: tuple  # equal keys, equal index and weights

    @property
    def identity(self) -> bool:
        """True when output pixel i is source pixel lo + i (a 1:1 crop)."""
        return (self.index.shape[1] == 1 and self.hi - self.lo == len(self.index)
                and bool((self.index[:, 0] == np.arange(len(self.index))).all()))


def axis_taps(start: float, scale: float, n_out: int, size: int, kind: str) -> AxisTaps:
    """Taps for ``n_out`` output pixels from ``start`` in steps of ``scale`` source pixels.

    ``size`` is the source extent along the axis; ``kind`` one of ``nearest``,
    ``average``, ``bilinear``. Taps depend only on the fraction of ``start`` and
    the edges, so they are cached.

    >>> t = axis_taps(1.5, 2.0, 2, 10, "average")
    >>> t.lo, t.hi, t.index.tolist(), t.weights.tolist()
    (1, 6, [[0, 1, 2], [2, 3, 4]], [[0.25, 0.5, 0.25], [0.25, 0.5, 0.25]])
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
    lo, hi = _source_span(start, scale, n_out, size, kind)
    key = (round(start - lo, 9), scale, n_out, hi - lo, kind)
    return AxisTaps(lo, hi, *_taps(*key), key)


def nearest_index(start: float, scale: float, n_out: int, lo: int) -> np.ndarray:
    """Source pixel (relative to ``lo``) GDAL's nearest picks for each output pixel."""
    return np.floor(start + (np.arange(n_out) + 0.5) * scale + 1e-10).astype(np.int64) - lo


def _source_span(start: float, scale: float, n_out: int, size: int, kind: str) -> tuple[int, int]:
    end = start + n_out * scale
    if kind == "bilinear":
        first = start + 0.5 * scale - 0.5
        last = end - 0.5 * scale - 0.5
        return max(0, math.floor(first + _EPS)), min(size, math.floor(last + _EPS) + 2)
    if kind == "average":
        return max(0, math.floor(start + _EPS)), min(size, math.ceil(end - _EPS))
    first = math.floor(start + 0.5 * scale + 1e-10)
    return first, min(size, max(first + 1, math.floor(end - 0.5 * scale + 1e-10) + 1))


@lru_cache(maxsize=512)
def _taps(start: float, scale: float, n_out: int, width: int, kind: str):
    """Taps in the frame of the span (source pixel 0 is ``lo``)."""
    i = np.arange(n_out, dtype=np.float64)
    if kind == "nearest":
        index = nearest_index(start, scale, n_out, 0)[:, None]
        return _frozen(np.clip(index, 0, width - 1), np.ones_like(index, dtype=np.float64))
    if kind == "bilinear":
        x = start + (i + 0.5) * scale - 0.5
        k0 = np.floor(x + _EPS)
        t = np.clip(x - k0, 0.0, 1.0)
        index = np.stack([k0, k0 + 1], axis=1).astype(np.int64)
        weights = np.stack([1 - t, t], axis=1)
        return _frozen(np.clip(index, 0, width - 1), weights)
    a, b = start + i * scale, start + (i + 1) * scale
    n_taps = int(math.ceil(scale)) + 1
    k0 = np.floor(a + _EPS).astype(np.int64)
    index = k0[:, None] + np.arange(n_taps)[None, :]
    overlap = np.minimum(b[:, None], index + 1) - np.maximum(a[:, None], index)
    weights = np.where((index >= 0) & (index < width), np.clip(overlap, 0.0, None), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return _frozen(np.clip(index, 0, width - 1), weights)


def _frozen(index: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index, weights = index.astype(np.int64), weights.astype(np.float32)
    index.flags.writeable = weights.flags.writeable = False
    return index, weights
