"""The host side of the GPU feed: where each chip's pixels come from, and the reads for it.

A :class:`FeedSource` is decided once per raster: which resolution level
GDAL would read (full resolution or an overview), the chip scale, the
resampling and the kind of mask. A :class:`ChipPlan` places one grid cell on
that level with ChipReader's own window arithmetic, as taps per axis and the
tiles they touch. The read functions at the bottom take and return only
picklable values, so they run on threads or in worker processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.windows import Window

from poppyscan.detect.gpu.taps import AxisTaps, axis_taps, nearest_index
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.grid import GridCell, GridSpec
from poppyscan.tiles.jpeg_tiles import JpegTiles, jpeg_tiles
from poppyscan.tiles.raster import RasterInfo
from poppyscan.tiles.reader import ChipReader, resampling_for

__all__ = ["ChipPlan", "FeedSource", "feed_source", "plan_chip", "read_chips", "read_masks",
           "split", "unique_tiles"]

# GDAL reads from the coarsest overview whose factor is below the requested one
# times this (GDALBandGetBestOverviewLevel2): 1.0 nudged up for numerical noise
# for average/bilinear, 1.2 for nearest, which is how masks are read.
OVERVIEW_THRESHOLD = 1.01
MASK_OVERVIEW_THRESHOLD = 1.2


@dataclass(frozen=True, eq=False)
class FeedSource:
    """How the feed reads one raster: its tile level, chip scale, resampling and mask."""

    info: RasterInfo
    level: JpegTiles
    scale: float  # full-resolution source pixels per chip pixel
    kind: str  # nearest / average / bilinear
    mask: str  # "all_valid", "per_dataset" or "nodata"
    nodata: tuple[float, float, float] | None
    geometry: ChipReader = field(repr=False)  # ChipReader's window arithmetic, not a copy of it

    def close(self) -> None:
        self.geometry.close()


@dataclass(frozen=True, eq=False)
class ChipPlan:
    """Where one chip's pixels come from on its source's level."""

    source: FeedSource
    cell: GridCell
    window: Window  # full-resolution footprint, as ChipReader reports it
    region: tuple[int, int, int, int] | None  # chip rows r0:r1, cols c0:c1 inside the raster
    read_window: Window | None = None  # ChipReader's source window of the region
    ys: AxisTaps | None = None
    xs: AxisTaps | None = None
    mask_rows: np.ndarray | None = None  # GDAL's nearest source row per chip row (span frame)
    mask_cols: np.ndarray | None = None

    @property
    def span(self) -> tuple[int, int, int, int]:
        """Level pixels ``col0, row0, col1, row1`` the chip is made from."""
        return self.xs.lo, self.ys.lo, self.xs.hi, self.ys.hi

    def mask_job(self) -> tuple:
        """What :func:`read_masks` needs for this chip."""
        r0, r1, c0, c1 = self.region
        return self.span, self.read_window, (r1 - r0, c1 - c0)

    def tiles(self) -> list[tuple[int, int]]:
        rows, cols = self.source.level.tiles_over(*self.span)
        return [(r, c) for r in rows for c in cols]


def feed_source(info: RasterInfo, spec: GridSpec) -> FeedSource | None:
    """How to decode ``info`` on the device, or None when ChipReader must read it."""
    if info.warped or info.stretch is not None or info.bands != (1, 2, 3):
        return None
    with rasterio.open(info.path) as src:
        flags = set(src.mask_flag_enums[0])
        nodata = tuple(src.nodatavals) if MaskFlags.nodata in flags else None
        factors = [(min(src.width / width, src.height / height), k)
                   for k, (width, height) in enumerate(_overview_sizes(info.path, src))]
    if MaskFlags.alpha in flags:
        return None
    mask = "nodata" if nodata is not None else ("all_valid" if MaskFlags.all_valid in flags
                                               else "per_dataset")
    scale = (spec.gsd_m or info.res_m[0]) / info.res_m[0]
    kind = resampling_for(scale).name
    overview = _overview(factors, scale, OVERVIEW_THRESHOLD if kind != "nearest" else 1.0)
    if mask == "nodata" and _overview(factors, scale, MASK_OVERVIEW_THRESHOLD) != overview:
        return None  # GDAL's mask would come from other pixels than the chip's
    level = jpeg_tiles(info.path, overview=overview)
    if level is None:
        return None
    return FeedSource(info, level, scale, kind, mask, nodata, ChipReader(info, spec))


def _overview(factors: list[tuple[float, int]], scale: float, threshold: float) -> int | None:
    """The overview GDAL reads a ``scale`` times decimated window from (None: full resolution)."""
    usable = [f for f in factors if f[0] < scale * threshold]
    return max(usable)[1] if usable else None


def _overview_sizes(path: str, src) -> list[tuple[int, int]]:
    sizes = []
    for k in range(len(src.overviews(1))):
        with rasterio.open(path, overview_level=k) as ovr:
            sizes.append((ovr.width, ovr.height))
    return sizes


def plan_chip(source: FeedSource, cell: GridCell) -> ChipPlan:
    """ChipReader's window for ``cell``, carried onto the source's level as taps."""
    geometry = source.geometry
    window = geometry._source_window(cell)
    inside = geometry._inside(window, source.scale, cell.size_px)
    if inside is None:
        return ChipPlan(source, cell, window, None)
    (r0, r1, c0, c1), src = inside
    level = source.level
    fx, fy = level.factor
    sx, sy = source.scale / fx, source.scale / fy
    x0, y0 = src.col_off / fx, src.row_off / fy
    xs = axis_taps(x0, sx, c1 - c0, level.width, source.kind)
    ys = axis_taps(y0, sy, r1 - r0, level.height, source.kind)
    return ChipPlan(source, cell, window, (r0, r1, c0, c1), src, ys, xs,
                    nearest_index(y0, sy, r1 - r0, ys.lo), nearest_index(x0, sx, c1 - c0, xs.lo))


def unique_tiles(plans: Iterable[ChipPlan]) -> dict[str, tuple[JpegTiles, list[tuple[int, int]]]]:
    """Per raster, its level and the tiles the chips need, each once."""
    found: dict[str, tuple[JpegTiles, dict]] = {}
    for plan in plans:
        level, keys = found.setdefault(plan.source.info.path, (plan.source.level, {}))
        keys.update(dict.fromkeys(plan.tiles()))
    return {path: (level, list(keys)) for path, (level, keys) in found.items()}


def split(items: list, n: int) -> list[list]:
    """``items`` in up to ``n`` consecutive parts of near-equal length.

    >>> split([1, 2, 3, 4, 5], 2)
    [[1, 2, 3], [4, 5]]
    """
    size = max(1, -(-len(items) // n))
    return [items[i:i + size] for i in range(0, len(items), size)]


def read_masks(path: str, overview: int | None, jobs: list[tuple]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chip: the level's mask over its span, and its valid mask read as ChipReader reads it.

    GDAL may serve the second from a coarser overview than the pixels (nearest
    takes overviews more eagerly), so it is read, not derived from the first.
    """
    level = rasterio.open(path) if overview is None else rasterio.open(path, overview_level=overview)
    with level, rasterio.open(path) as full:
        return [(level.dataset_mask(window=Window(c0, r0, c1 - c0, r1 - r0)) > 0,
                 full.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0)
                for (c0, r0, c1, r1), window, shape in jobs]


def read_chips(info: RasterInfo, spec: GridSpec, cells: list[GridCell]) -> list[Chip]:
    """Chips through GDAL, for rasters the feed cannot decode."""
    with ChipReader(info, spec) as reader:
        return [reader.read(cell) for cell in cells]
