"""The chip reader: one grid cell in, one :class:`~tiles.chip.Chip` out.

Training and inference both read chips through :class:`ChipReader`, so a chip
seen in training looks exactly like one seen in the field: same GSD, same
resampling, same band, mask and brightness policy.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterator
from contextlib import ExitStack

import numpy as np
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from poppyscan.errors import RasterError
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.grid import GridCell, GridSpec
from poppyscan.tiles.jpeg_tiles import TileDecoder
from poppyscan.tiles.plan import plan_raster
from poppyscan.tiles.raster import RasterInfo, open_dataset, to_uint8

__all__ = ["ChipReader", "resampling_for", "cells_for"]


def resampling_for(scale: float) -> Resampling:
    """Resampling policy: average when shrinking, bilinear when enlarging, none at 1:1."""
    if math.isclose(scale, 1.0, rel_tol=1e-9):
        return Resampling.nearest
    return Resampling.average if scale > 1 else Resampling.bilinear


def cells_for(info: RasterInfo, spec: GridSpec) -> list[GridCell]:
    """The whole chip grid of one raster (small rasters; see :mod:`poppyscan.tiles.plan`)."""
    return list(plan_raster(info, spec, prescreen=False).cells())


class _GdalWarnings(logging.Filter):
    """Collects, per thread, the GDAL warnings rasterio logs while a chip is read.

    GDAL decodes a damaged JPEG tile into garbage with only a warning
    ("Corrupt JPEG data: bad Huffman code"), which rasterio logs on its
    ``rasterio._err`` logger; as a filter this sees each one and lets it pass.
    Damage that libjpeg does not notice gives no signal at all.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    @contextlib.contextmanager
    def collect(self) -> Iterator[list[str]]:
        found: list[str] = []
        self._local.found = found
        try:
            yield found
        finally:
            self._local.found = None

    def filter(self, record: logging.LogRecord) -> bool:
        found = getattr(self._local, "found", None)
        if found is not None and record.levelno >= logging.WARNING:
            found.append(record.getMessage())
        return True


_GDAL_WARNINGS = _GdalWarnings()
logging.getLogger("rasterio._err").addFilter(_GDAL_WARNINGS)


def _snap(value: float) -> float:
    """Snap float noise (e.g. 215.9999999) to the integer it stands for."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < 1e-6 else value


class ChipReader:
    """Reads chips of one raster; holds its own dataset handle (one per thread).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, info: RasterInfo, spec: GridSpec) -> None:
        self.info = info
        self.spec = spec
        self._stack = ExitStack()
        self._src = self._stack.enter_context(open_dataset(info))
        # No nodata, alpha or internal mask: GDAL's mask would be all 255, so it is not read.
        self._all_valid = not info.warped and all(
            flags == [MaskFlags.all_valid] for flags in self._src.mask_flag_enums)
        self._tiles = self._tile_decoder(info, spec)

    def _tile_decoder(self, info: RasterInfo, spec: GridSpec) -> TileDecoder | None:
        """Decodes the tiles of a plain RGB JPEG-tiled GeoTIFF for chips at its own GSD, else None.

        Only when the mask, if any, is the file's own mask band, read apart from
        the pixels (a nodata mask is computed from them, so GDAL reads those).
        """
        own_mask = all(flags in ([MaskFlags.all_valid], [MaskFlags.per_dataset])
                       for flags in self._src.mask_flag_enums)
        if info.warped or info.stretch is not None or info.bands != (1, 2, 3) or not own_mask:
            return None
        tile_h, tile_w = self._src.block_shapes[0]
        # The tiles under three chips side by side, two rows deep: a reader thread's
        # neighbouring chips (see tiles.stream) share them.
        capacity = (math.ceil(3 * spec.tile_px / tile_w) + 1) * (math.ceil(2 * spec.tile_px / tile_h) + 1)
        return TileDecoder.of(self._src, capacity)

    def __enter__(self) -> ChipReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def read(self, cell: GridCell) -> Chip:
        """Read ``cell`` resampled to the grid's GSD; pixels past the raster are padded."""
        size = cell.size_px
        window = self._source_window(cell)
        scale = window.width / size  # source pixels per chip pixel
        out = self._inside(window, scale, size)
        pixels = np.zeros((size, size, 3), dtype="uint8")
        valid = np.zeros((size, size), dtype=bool)
        if out is not None:
            (r0, r1, c0, c1), src_window = out
            inside = pixels[r0:r1, c0:c1]
            mask = self._read_window(src_window, inside, scale)
            valid[r0:r1, c0:c1] = mask
            if not np.all(mask):
                # Masked pixels are black in every chip, whatever the file stores under
                # its mask, so the collar looks the same in training and in the field.
                inside[~mask] = 0
        gsd_m = abs(cell.transform.a)
        return Chip(pixels, valid, cell.transform, self.info.crs, cell.row, cell.col,
                    self.info.path, window, gsd_m)

    def _source_window(self, cell: GridCell) -> Window:
        # Both transforms are north-up, so the window is an exact scale and offset.
        col_off, row_off = ~self.info.transform @ (cell.transform.c, cell.transform.f)
        width = cell.size_px * cell.transform.a / self.info.transform.a
        height = cell.size_px * cell.transform.e / self.info.transform.e
        return Window(*(_snap(v) for v in (col_off, row_off, width, height)))

    def _inside(self, window: Window, scale: float, size: int):
        """Chip pixel rows/cols wholly inside the raster and their source window.

        A chip pixel straddling the raster's edge is left as padding, so the
        source window never leaves the raster and keeps the exact scale.
        """
        c0 = max(0, math.ceil(-window.col_off / scale - 1e-9))
        r0 = max(0, math.ceil(-window.row_off / scale - 1e-9))
        c1 = min(size, math.floor((self.info.width - window.col_off) / scale + 1e-9))
        r1 = min(size, math.floor((self.info.height - window.row_off) / scale + 1e-9))
        if c1 <= c0 or r1 <= r0:
            return None
        col_off = window.col_off + c0 * scale
        row_off = window.row_off + r0 * scale
        width = min((c1 - c0) * scale, self.info.width - col_off)
        height = min((r1 - r0) * scale, self.info.height - row_off)
        if abs(scale - round(scale)) < 1e-9 and abs(col_off - round(col_off)) < 1e-9:
            col_off, row_off = round(col_off), round(row_off)
            width, height = round(width), round(height)
        return (r0, r1, c0, c1), Window(col_off, row_off, width, height)

    def _read_window(self, window: Window, pixels: np.ndarray, scale: float) -> np.ndarray | bool:
        """Read ``window`` into ``pixels`` (rows, cols, 3); return its valid mask (True: all valid).

        RasterError when GDAL fails or warns (damaged data).
        """
        shape = pixels.shape[:2]
        resampling = resampling_for(scale)
        bands = list(self.info.bands)
        mask: np.ndarray | bool = True
        try:
            with _GDAL_WARNINGS.collect() as warned:
                if self._tiles is not None and isinstance(window.col_off, int) and scale == 1:
                    self._tiles.read(window.col_off, window.row_off, pixels)
                elif self.info.stretch is None:  # 8-bit: GDAL writes straight into the chip
                    self._src.read(bands, window=window, out=pixels.transpose(2, 0, 1),
                                   resampling=resampling)
                else:
                    data = self._src.read(bands, window=window, out_shape=(3, *shape),
                                          resampling=resampling)
                    pixels[:] = to_uint8(data, self.info.stretch).transpose(1, 2, 0)
                if not self._all_valid:
                    mask = self._src.dataset_mask(
                        window=window, out_shape=shape, resampling=Resampling.nearest) > 0
        except RasterioError as err:
            raise RasterError(
                f"{self.info.path}: read failed at window {window!r}: {err}".splitlines()[0]
            ) from None
        if warned:
            raise RasterError(
                f"{self.info.path}: damaged data at window {window!r} (GDAL: {warned[0]}); "
                "the file is corrupt: copy or export it again".splitlines()[0]
            )
        return mask
