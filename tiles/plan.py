"""A raster's chip plan, held as arrays: cells are made only when read.

A 20 km x 20 km mission at 5 cm has about 600,000 chips per raster; the plan
keeps a boolean array of the cells worth reading (the coarse pre-screen), never
a list of cell objects, and hands out cells block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.features import rasterize

from poppyscan.tiles.grid import (
    GridCell,
    GridSpec,
    chip_grid_shape,
    grid_cell,
    grid_shape_px,
    grid_transform,
)
from poppyscan.tiles.raster import RasterInfo, decimated_grid, decimated_read_is_cheap, open_dataset

__all__ = ["ChipBlock", "RasterPlan", "plan_raster"]


@dataclass(frozen=True)
class ChipBlock:
    """A square of up to ``block_chips`` x ``block_chips`` planned cells of one raster."""

    source: str
    row: int
    col: int
    cells: tuple[GridCell, ...]

    @property
    def key(self) -> str:
        return f"{self.source}|{self.row}|{self.col}"


@dataclass(frozen=True)
class RasterPlan:
    """The grid of one raster and which of its cells are worth reading."""

    info: RasterInfo
    spec: GridSpec
    keep: np.ndarray  # bool (n_rows, n_cols): False where the coarse mask rules the cell out

    @property
    def n_planned(self) -> int:
        return int(self.keep.size)

    @property
    def n_to_read(self) -> int:
        return int(self.keep.sum())

    @property
    def n_ruled_out(self) -> int:
        return self.n_planned - self.n_to_read

    def cells(self) -> Iterator[GridCell]:
        """Cells worth reading, row by row."""
        transform = self._grid_transform()
        for row, col in zip(*np.nonzero(self.keep), strict=True):
            yield grid_cell(transform, int(row), int(col), self.spec)

    def blocks(self, block_chips: int) -> Iterator[ChipBlock]:
        """Cells worth reading in square blocks of ``block_chips`` a side, blocks row by row."""
        transform = self._grid_transform()
        n_rows, n_cols = self.keep.shape
        for brow in range(0, n_rows, block_chips):
            for bcol in range(0, n_cols, block_chips):
                part = self.keep[brow:brow + block_chips, bcol:bcol + block_chips]
                cells = tuple(grid_cell(transform, brow + int(r), bcol + int(c), self.spec)
                              for r, c in zip(*np.nonzero(part), strict=True))
                if cells:
                    yield ChipBlock(self.info.path, brow // block_chips, bcol // block_chips, cells)

    def _grid_transform(self) -> Affine:
        return grid_transform(self.info.transform, self.spec.gsd_m)


def plan_raster(info: RasterInfo, spec: GridSpec, *, prescreen: bool = True) -> RasterPlan:
    """The plan of ``info`` on ``spec``; ``prescreen`` rules out cells with no valid coarse pixel.

    The pre-screen uses a coarse valid mask from the file's overviews (or a
    decimated read of a small raster); without overviews on a large raster
    every cell is kept.
    """
    width_px, height_px = grid_shape_px(info.transform, info.width, info.height, spec.gsd_m)
    shape = chip_grid_shape(width_px, height_px, spec)
    coarse = _coarse_mask(info) if prescreen else None
    if coarse is None:
        return RasterPlan(info, spec, np.ones(shape, dtype=bool))
    mask, transform = coarse
    return RasterPlan(info, spec, _cells_touching(mask, transform, info, spec, shape))


def _coarse_mask(info: RasterInfo, max_px: int = 512) -> tuple[np.ndarray, Affine] | None:
    if not decimated_read_is_cheap(info):
        return None
    with open_dataset(info) as src:
        out_w, out_h, transform = decimated_grid(info, max_px)
        mask = src.dataset_mask(out_shape=(out_h, out_w)) > 0
    # One coarse pixel of margin: a sliver of valid pixels may vanish when decimated.
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return grown, transform


def _cells_touching(mask: np.ndarray, transform: Affine, info: RasterInfo, spec: GridSpec,
                    shape: tuple[int, int]) -> np.ndarray:
    """Which cells touch a valid coarse pixel: a summed-area table for north-up grids."""
    grid = grid_transform(info.transform, spec.gsd_m)
    if not (_north_up(grid) and _north_up(transform)):
        return _cells_touching_slow(mask, transform, info, spec, shape)
    n_rows, n_cols = shape
    stride, tile = spec.stride_px, spec.tile_px
    # Cell edges in coarse pixel coordinates (grid pixel -> map -> coarse pixel).
    to_coarse = ~transform @ grid
    x0 = to_coarse.a * (np.arange(n_cols) * stride) + to_coarse.c
    x1 = to_coarse.a * (np.arange(n_cols) * stride + tile) + to_coarse.c
    y0 = to_coarse.e * (np.arange(n_rows) * stride) + to_coarse.f
    y1 = to_coarse.e * (np.arange(n_rows) * stride + tile) + to_coarse.f
    h, w = mask.shape
    c0, c1 = np.clip(np.floor(x0), 0, w).astype(int), np.clip(np.ceil(x1), 0, w).astype(int)
    r0, r1 = np.clip(np.floor(y0), 0, h).astype(int), np.clip(np.ceil(y1), 0, h).astype(int)
    table = np.zeros((h + 1, w + 1), dtype=np.int64)
    table[1:, 1:] = mask.cumsum(0).cumsum(1)
    r0, r1, c0, c1 = r0[:, None], r1[:, None], c0[None, :], c1[None, :]
    valid = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    return valid > 0


def _cells_touching_slow(mask, transform, info, spec, shape) -> np.ndarray:
    """Rasterize each cell on the coarse grid: for rotated rasters."""
    grid = grid_transform(info.transform, spec.gsd_m)
    keep = np.zeros(shape, dtype=bool)
    for row in range(shape[0]):
        for col in range(shape[1]):
            cell = grid_cell(grid, row, col, spec)
            footprint = rasterize([(cell.polygon, 1)], out_shape=mask.shape, transform=transform,
                                  all_touched=True, dtype="uint8")
            keep[row, col] = bool((mask & (footprint > 0)).any())
    return keep


def _north_up(transform: Affine) -> bool:
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0
