"""One render block: a window of global pixels and its ground coordinates.

A block knows where its pixel centres fall on the ground (local metres, see
``scene``), rasterises polygons in global pixel coordinates (see ``fill``) and
evaluates noise at ground coordinates. Hence a
pixel's value does not depend on the block it is rendered in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
import shapely

from poppyscan.synth import noise
from poppyscan.synth.fill import fill_mask

__all__ = ["Block", "lod", "cover", "ragged_mask"]


@dataclass(frozen=True)
class Block:
    """A window ``rows x cols`` of the survey's pixel grid, starting at global ``row0, col0``."""

    row0: int
    col0: int
    height: int
    width: int
    gsd_m: float
    extent_h_m: float  # survey height in metres: local y of the raster's top edge

    @cached_property
    def xs(self) -> np.ndarray:
        """Local x (east, metres) of the pixel centres of each column (float64)."""
        return (np.arange(self.col0, self.col0 + self.width) + 0.5) * self.gsd_m

    @cached_property
    def ys(self) -> np.ndarray:
        """Local y (north, metres) of the pixel centres of each row (float64)."""
        return self.extent_h_m - (np.arange(self.row0, self.row0 + self.height) + 0.5) * self.gsd_m

    @cached_property
    def X(self) -> np.ndarray:  # noqa: N802 - a (1, w) coordinate grid, like np.ogrid
        return self.xs.astype(np.float32)[None, :]

    @cached_property
    def Y(self) -> np.ndarray:  # noqa: N802
        return self.ys.astype(np.float32)[:, None]

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        """Local ``xmin, ymin, xmax, ymax`` of the block's outer edges."""
        g = self.gsd_m
        top = self.extent_h_m - self.row0 * g
        return self.col0 * g, top - self.height * g, (self.col0 + self.width) * g, top

    def box(self):
        return shapely.box(*self.bounds_m)

    def sub(self, r0: int, r1: int, c0: int, c1: int) -> Block:
        """The sub-block of rows ``r0:r1`` and columns ``c0:c1`` (block-relative)."""
        return Block(self.row0 + r0, self.col0 + c0, r1 - r0, c1 - c0, self.gsd_m, self.extent_h_m)

    def window_of(self, bounds_m, pad_m: float = 0.0) -> tuple[int, int, int, int] | None:
        """Block-relative ``r0, r1, c0, c1`` covering local ``bounds_m``; None when outside."""
        x0, y0, x1, y1 = bounds_m
        g = self.gsd_m
        c0 = max(int(np.floor((x0 - pad_m) / g)) - self.col0, 0)
        c1 = min(int(np.ceil((x1 + pad_m) / g)) - self.col0 + 1, self.width)
        r0 = max(int(np.floor((self.extent_h_m - y1 - pad_m) / g)) - self.row0, 0)
        r1 = min(int(np.ceil((self.extent_h_m - y0 + pad_m) / g)) - self.row0 + 1, self.height)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def to_px(self, xy_m: np.ndarray) -> np.ndarray:
        """Local metres -> *global* pixel coordinates (float64, GDAL corner convention)."""
        xy_m = np.asarray(xy_m, np.float64)
        g = self.gsd_m
        return np.stack([xy_m[..., 0] / g, (self.extent_h_m - xy_m[..., 1]) / g], axis=-1)

    def _fill_px(self, rings_px: list[np.ndarray], value, out: np.ndarray) -> None:
        lo = np.min([r.min(0) for r in rings_px], axis=0)
        hi = np.max([r.max(0) for r in rings_px], axis=0)
        c0 = max(int(np.floor(lo[0])) - self.col0, 0)
        c1 = min(int(np.ceil(hi[0])) - self.col0 + 1, self.width)
        r0 = max(int(np.floor(lo[1])) - self.row0, 0)
        r1 = min(int(np.ceil(hi[1])) - self.row0 + 1, self.height)
        if c0 >= c1 or r0 >= r1:
            return
        inside = fill_mask(rings_px, self.row0 + r0, self.col0 + c0, r1 - r0, c1 - c0)
        out[r0:r1, c0:c1][inside] = value

    def fill(self, geom, value: float = 1, out: np.ndarray | None = None) -> np.ndarray:
        """Rasterise a (multi)polygon (local metres) into ``out`` (uint8 mask by default).

        A pixel is inside when its centre is, exactly as GDAL's rasterize decides.
        """
        if out is None:
            out = np.zeros(self.shape, np.uint8)
        rings = []
        for part in getattr(geom, "geoms", [geom]):
            if part.is_empty:
                continue
            rings.append(shapely.get_coordinates(part.exterior))
            rings.extend(shapely.get_coordinates(r) for r in part.interiors)
        if rings:
            self._fill_px([self.to_px(r) for r in rings], value, out)
        return out

    def fill_rings(self, rings_xy: np.ndarray, values, out: np.ndarray) -> np.ndarray:
        """Rasterise ``(k, n, 2)`` rings one by one with ``values[k]`` (later ones on top)."""
        px = self.to_px(rings_xy)
        for ring, value in zip(px, values, strict=True):
            self._fill_px([ring], value, out)
        return out

    def noise(self, cell_m: float, seed: int) -> np.ndarray:
        """Value noise in [0, 1) with features of ``cell_m`` metres."""
        return noise.value_noise(self.xs, self.ys, cell_m, seed)

    def fbm(self, cell_m: float, seed: int, octaves: int = 3) -> np.ndarray:
        return noise.fbm(self.xs, self.ys, cell_m, seed, octaves=octaves)

    def detail(self, cell_m: float, seed: int, octaves: int = 1) -> np.ndarray:
        """Zero-mean texture in about [-0.5, 0.5], faded out where finer than the pixels.

        A camera averages texture finer than its pixels away; sampling noise at
        pixel centres instead would alias it into full-contrast speckle.
        """
        out = np.zeros(self.shape, np.float32)
        for k in range(octaves):
            cell = cell_m / 2**k
            w = lod(cell, self.gsd_m) * 0.5**k
            if w > 0:
                out += np.float32(w) * (self.noise(cell, seed + 101 * k) - np.float32(0.5))
        return out


def lod(size_m: float, gsd_m: float) -> float:
    """Visibility 0..1 of a detail of ``size_m`` at ``gsd_m``: 0 below ~1 px, 1 above 3 px."""
    return float(np.clip((size_m / gsd_m - 1.0) / 2.0, 0.0, 1.0))


def cover(d_m: np.ndarray, r_m: np.ndarray, gsd_m: float) -> np.ndarray:
    """Anti-aliased coverage of discs of radius ``r_m`` at distance ``d_m`` (metres).

    Scaled so a disc's summed coverage equals its area even when it is smaller
    than a pixel: sub-pixel petals tint pixels instead of vanishing or popping.
    """
    r = np.asarray(r_m, dtype=np.float32)
    g = np.float32(gsd_m)
    c = np.clip((r - d_m) / g + np.float32(0.5), 0.0, 1.0)
    big = r * r / (r * r + g * g / np.float32(12.0))
    half = r + g / np.float32(2.0)
    small = np.float32(3.0) * g * r * r / (half * half * half)
    return c * np.where(r >= g / 2, big, small)


def ragged_mask(blk: Block, mask: np.ndarray, seed: int, reach_m: float = 0.15) -> np.ndarray:
    """A hard polygon mask made ragged: vegetation spills over or falls short of the edge."""
    sigma = min(3.0, reach_m / blk.gsd_m)
    if sigma < 0.6:
        return mask.astype(bool)
    k = 2 * int(np.ceil(3 * sigma)) + 1
    soft = cv2.GaussianBlur(mask * np.uint8(255), (k, k), sigma)
    thresh = (blk.noise(max(reach_m, 2 * blk.gsd_m), seed) * 200 + 28).astype(np.uint8)
    return soft > thresh
