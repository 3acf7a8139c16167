"""The chip grid: one pure function shared by training and inference.

A grid is defined on a *grid transform*: the raster's own transform for native
chips, or a north-up transform with the model's ground sample distance anchored
at the raster's top-left corner. Chips are squares of ``tile_px`` grid pixels
stepping by ``tile_px - overlap_px``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from affine import Affine
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from shapely.geometry import Polygon

from poppyscan.errors import ConfigError
from poppyscan.tiles.geometry import pixel_box_to_polygon

__all__ = ["GridSpec", "GridCell", "chip_grid", "chip_grid_shape", "grid_cell", "grid_transform",
           "grid_shape_px", "parse_gsd_m"]


def parse_gsd_m(value: str | float | None) -> float | None:
    """Metres per chip pixel from a number or ``"native"`` (None: the source resolution)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "native"):
        return None
    try:
        gsd_m = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"gsd {value!r}: expected metres (e.g. 0.05) or 'native'") from None
    if not 0 < gsd_m <= 100:
        raise ConfigError(f"gsd {value!r}: must be in (0, 100] metres, or 'native'")
    return gsd_m


@dataclass(frozen=True)
class GridSpec:
    """Chip geometry: ground sample distance, chip size and overlap.

    ``gsd_m=None`` keeps the source resolution ("native"). The defaults and
    why they were chosen are in ``configs/tiling.yaml`` (:meth:`from_settings`).
    """

    gsd_m: float | None
    tile_px: int
    overlap_px: int

    def __post_init__(self) -> None:
        if self.gsd_m is not None and not (0 < self.gsd_m <= 100):
            raise ConfigError(f"gsd_m={self.gsd_m!r} must be in (0, 100] metres, or None for native")
        if not (16 <= self.tile_px <= 8192):
            raise ConfigError(f"tile_px={self.tile_px!r} must be in [16, 8192]")
        if not (0 <= self.overlap_px < self.tile_px):
            raise ConfigError(
                f"overlap_px={self.overlap_px!r} must be in [0, tile_px) = [0, {self.tile_px})"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> GridSpec:
        """From a settings mapping (``configs/tiling.yaml``); ``gsd_m: native`` keeps the source GSD.

        >>> GridSpec.from_settings({"gsd_m": "native", "tile_px": 256, "overlap_px": 0})
        GridSpec(gsd_m=None, tile_px=256, overlap_px=0)
        """
        return cls(parse_gsd_m(settings["gsd_m"]), int(settings["tile_px"]),
                   int(settings["overlap_px"]))

    @property
    def stride_px(self) -> int:
        return self.tile_px - self.overlap_px


@dataclass(frozen=True)
class GridCell:
    """One chip's place in the grid: position, size and georeference."""

    row: int
    col: int
    transform: Affine  # chip pixel (col, row) -> map coordinates
    size_px: int

    @property
    def polygon(self) -> Polygon:
        return pixel_box_to_polygon(self.transform, 0, 0, self.size_px, self.size_px)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Map bounds ``left, bottom, right, top``."""
        return self.polygon.bounds


def grid_transform(src_transform: Affine, gsd_m: float | None) -> Affine:
    """Grid transform for chips at ``gsd_m`` anchored at the raster's top-left corner."""
    if gsd_m is None:
        return src_transform
    return Affine(gsd_m, 0.0, src_transform.c, 0.0, -gsd_m, src_transform.f)


def grid_shape_px(src_transform: Affine, width: int, height: int, gsd_m: float | None) -> tuple[int, int]:
    """Raster size ``(width, height)`` in grid pixels, rounded up so nothing is lost."""
    if gsd_m is None:
        return width, height
    # A 1e-9 tolerance keeps an exact multiple (e.g. 1000 px at 0.05 -> 0.10 m) from rounding up.
    width_px = math.ceil(width * abs(src_transform.a) / gsd_m - 1e-9)
    height_px = math.ceil(height * abs(src_transform.e) / gsd_m - 1e-9)
    return max(width_px, 1), max(height_px, 1)


def _cell_transform(transform: Affine, col_off: int, row_off: int, size: int) -> Affine:
    # rasterio's own arithmetic, so a native chip's transform is bit-identical to
    # ``dataset.window_transform`` of the same window.
    return window_transform(Window(col_off, row_off, size, size), transform)


def _n_steps(extent_px: int, tile_px: int, stride_px: int) -> int:
    return 1 + max(0, math.ceil((extent_px - tile_px) / stride_px))


def chip_grid(
    transform: Affine, width_px: int, height_px: int, *, tile_px: int, overlap_px: int
) -> list[GridCell]:
    """Cover a ``width_px`` x ``height_px`` grid with square chips, row by row.

    Chip ``(row, col)`` starts at grid pixel ``(col * stride, row * stride)``
    with ``stride = tile_px - overlap_px``. There are
    ``1 + ceil(max(0, extent - tile_px) / stride)`` chips along each axis, so
    every grid pixel is covered. The last chip of a row or column is *not*
    shifted back inside the raster (that would break the constant overlap and
    the lattice); it extends past the edge and the reader pads it. A raster
    smaller than one chip gives one padded chip.

    >>> cells = chip_grid(Affine(0.05, 0, 0, 0, -0.05, 0), 1000, 640, tile_px=640, overlap_px=128)
    >>> [(c.row, c.col) for c in cells]
    [(0, 0), (0, 1)]
    """
    spec = GridSpec(gsd_m=None, tile_px=tile_px, overlap_px=overlap_px)  # validates
    n_rows, n_cols = chip_grid_shape(width_px, height_px, spec)
    return [grid_cell(transform, row, col, spec) for row in range(n_rows) for col in range(n_cols)]


def chip_grid_shape(width_px: int, height_px: int, spec: GridSpec) -> tuple[int, int]:
    """``(rows, cols)`` of chips covering a ``width_px`` x ``height_px`` grid (see :func:`chip_grid`)."""
    return (_n_steps(height_px, spec.tile_px, spec.stride_px),
            _n_steps(width_px, spec.tile_px, spec.stride_px))


def grid_cell(transform: Affine, row: int, col: int, spec: GridSpec) -> GridCell:
    """Chip ``(row, col)`` of the grid on ``transform``."""
    stride = spec.stride_px
    return GridCell(row, col, _cell_transform(transform, col * stride, row * stride, spec.tile_px),
                    spec.tile_px)
