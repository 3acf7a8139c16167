"""A chip: pixels, valid mask and georeference of one grid cell."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from shapely.geometry import MultiPolygon, Polygon

from poppyscan.tiles.geometry import mask_to_polygon, pixel_box_to_polygon

__all__ = ["Chip"]


@dataclass(frozen=True, eq=False)
class Chip:
    """One chip as the model sees it.

    ``pixels`` is (H, W, 3) uint8 RGB; ``valid`` is (H, W) bool, False on
    nodata, alpha-masked and padded pixels. ``window`` is the chip's footprint
    in source pixel coordinates (fractional when resampled; it may extend past
    the raster where the chip is padded).
    """

    pixels: np.ndarray
    valid: np.ndarray
    transform: Affine
    crs: CRS
    row: int
    col: int
    source: str
    window: Window
    gsd_m: float

    @property
    def size_px(self) -> int:
        return self.pixels.shape[0]

    @cached_property
    def valid_px(self) -> int:
        """Number of valid pixels (counted once: detection asks for it several times a chip)."""
        return int(np.count_nonzero(self.valid))

    @property
    def valid_frac(self) -> float:
        return self.valid_px / self.valid.size

    @property
    def all_valid(self) -> bool:
        return self.valid_px == self.valid.size

    def enough_valid(self, min_valid_frac: float) -> bool:
        """Not a collar chip: some valid pixels, and at least ``min_valid_frac`` of them."""
        return self.valid_px > 0 and self.valid_frac >= min_valid_frac

    @property
    def polygon(self) -> Polygon:
        """Map footprint of the whole chip (padding included)."""
        return pixel_box_to_polygon(self.transform, 0, 0, self.size_px, self.size_px)

    def valid_area(self, cell_px: int = 1) -> Polygon | MultiPolygon:
        """Map polygon of the valid pixels: the footprint less collar and padding.

        ``cell_px`` > 1 traces it on cells of that many pixels (see :func:`mask_to_polygon`).
        """
        if self.all_valid:
            return self.polygon
        return mask_to_polygon(self.valid, self.transform, cell_px=cell_px)

    @property
    def key(self) -> tuple[str, int, int]:
        """``(source, row, col)``: unique within a run."""
        return self.source, self.row, self.col

    def valid_fraction_in(self, box_px: np.ndarray) -> np.ndarray:
        """Fraction of valid pixels inside each pixel box (N, 4) ``xmin, ymin, xmax, ymax``."""
        boxes = np.asarray(box_px, dtype="float64").reshape(-1, 4)
        if self.all_valid:  # most chips: skip the integral image (tens of ms a chip)
            return np.ones(len(boxes))
        integral = np.pad(self.valid.astype("int64").cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        size = self.size_px
        x0, y0 = (np.clip(np.floor(boxes[:, i]), 0, size).astype(int) for i in (0, 1))
        x1, y1 = (np.clip(np.ceil(boxes[:, i]), 0, size).astype(int) for i in (2, 3))
        x1, y1 = np.maximum(x1, x0 + 1).clip(max=size), np.maximum(y1, y0 + 1).clip(max=size)
        count = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
        area = np.maximum((x1 - x0) * (y1 - y0), 1)
        return count / area
