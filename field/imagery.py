"""Offline imagery around each target: a GeoPackage raster QField shows without signal.

Only squares of ``2 * margin_m`` around the targets are written, cut from the
orthomosaics of the runs that saw them (latest first), resampled (average) to
``gsd_m`` in Web Mercator and stored as JPEG tiles of 256 px. Tiles with no
target near are never written, so the file grows with the number of targets,
not with the spread of the mission. A target whose orthomosaic has moved or
gone gets no imagery (counted). ``package.json`` states each package's size.

Measured at JPEG quality 75 (tile bytes per km2 of imagery): a real 0.25 m
aerial image (tests/data/real/tiled_epsg28992.tif) 0.8 MB at 0.5 m, 2.4 MB at
0.25 m, 9.4 MB at 0.1 m; a synthetic 5 cm survey 1.0 / 3.2 / 15 MB. An isolated
target with the default 40 m margin takes 4-6 tiles, 20-40 kB.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from poppyscan.atomic import atomic_path
from poppyscan.detect.export._imaging import to_uint8
from poppyscan.errors import ConfigError
from poppyscan.field.gpkg import GPKG_VERSION
from poppyscan.field.selection import FieldTarget

__all__ = ["IMAGERY_TABLE", "ImageryStats", "write_imagery"]

IMAGERY_TABLE = "imagery"
TILE_PX = 256
_MERCATOR = "EPSG:3857"


@dataclass(frozen=True)
class ImageryStats:
    """What the imagery holds: targets covered, tiles, bytes, ground area and size per km2."""

    path: Path
    n_targets: int
    n_without: int  # targets whose orthomosaic could not be read
    tiles: int
    tile_bytes: int  # JPEG tiles alone
    bytes: int  # the file (tiles + GeoPackage tables, ~70 kB)
    area_km2: float  # ground under the tiles
    gsd_m: float

    @property
    def mb_per_km2(self) -> float:
        """Tile bytes per km2 of tiles (file overhead left out; edge tiles count whole)."""
        return self.tile_bytes / 1e6 / self.area_km2 if self.area_km2 else 0.0


def write_imagery(targets: Sequence[FieldTarget], path: str | os.PathLike, *,
                  margin_m: float = 40.0, gsd_m: float = 0.25,
                  jpeg_quality: int = 75) -> ImageryStats | None:
    """Write the imagery GeoPackage; None (no file) when no target has a readable orthomosaic."""
    if not (0 < margin_m <= 1000 and 0.01 <= gsd_m <= 10 and 1 <= jpeg_quality <= 100):
        raise ConfigError(f"imagery margin_m={margin_m} (0-1000], gsd_m={gsd_m} [0.01, 10], "
                          f"jpeg_quality={jpeg_quality} [1, 100]: a value is out of range")
    if not targets:
        return None
    lat0 = float(np.mean([t.lat for t in targets]))
    res = gsd_m / math.cos(math.radians(lat0))  # Mercator units per pixel at the targets
    x, y = Transformer.from_crs("EPSG:4326", _MERCATOR, always_xy=True).transform(
        [t.lon for t in targets], [t.lat for t in targets])
    step = TILE_PX * res
    pad = margin_m / math.cos(math.radians(lat0)) + 2 * step  # every target's tiles fit inside
    left = math.floor((min(x) - pad) / step) * step
    top = math.ceil((max(y) + pad) / step) * step
    width = math.ceil((max(x) + pad - left) / step) * TILE_PX
    height = math.ceil((top - (min(y) - pad)) / step) * TILE_PX
    grid = from_origin(left, top, res, res)
    windows = [_tile_window(xi, yi, margin_m / gsd_m, left, top, res)
               for xi, yi in zip(x, y, strict=True)]
    with contextlib.ExitStack() as stack:
        sources = _Sources(stack, grid, width, height)
        plan = [(window, sources.covering(t)) for t, window in zip(targets, windows, strict=True)]
        missing = sum(vrt is None for _, vrt in plan)
        if missing == len(targets):
            return None
        with atomic_path(path) as tmp:
            # RGBA: JPEG tiles where the imagery is whole, PNG where it has a transparent edge,
            # so the orthomosaic's collar and unflown ground never cover the base layers.
            with rasterio.open(tmp, "w", driver="GPKG", width=width, height=height, count=4,
                               dtype="uint8", crs=_MERCATOR, transform=grid,
                               RASTER_TABLE=IMAGERY_TABLE, TILE_FORMAT="AUTO",
                               QUALITY=jpeg_quality, VERSION=GPKG_VERSION, BLOCKXSIZE=TILE_PX,
                               BLOCKYSIZE=TILE_PX) as dst:
                written = set()
                for window, vrt in plan:
                    key = (window.col_off, window.row_off, window.width)
                    if vrt is not None and key not in written:
                        dst.write(_read_rgba(vrt, window), window=window)
                        written.add(key)
            tiles, tile_bytes = _count_tiles(tmp)
    size = Path(path).stat().st_size
    return ImageryStats(Path(path), len(targets) - missing, missing, tiles, tile_bytes, size,
                        tiles * (TILE_PX * gsd_m) ** 2 / 1e6, gsd_m)


def _tile_window(x: float, y: float, margin_px: float, left: float, top: float,
                 res: float) -> Window:
    """Whole tiles covering ``margin_px`` around a point (so every written tile is whole)."""
    col, row = (x - left) / res, (top - y) / res
    c0, r0 = math.floor((col - margin_px) / TILE_PX), math.floor((row - margin_px) / TILE_PX)
    c1, r1 = math.ceil((col + margin_px) / TILE_PX), math.ceil((row + margin_px) / TILE_PX)
    side = max(c1 - c0, r1 - r0)
    return Window(c0 * TILE_PX, r0 * TILE_PX, side * TILE_PX, side * TILE_PX)


class _Sources:
    """Orthomosaics opened once each, warped onto the imagery grid."""

    def __init__(self, stack: contextlib.ExitStack, grid, width: int, height: int) -> None:
        self.stack, self.grid, self.size = stack, grid, (width, height)
        self.vrts: dict[str, WarpedVRT | None] = {}
        self.bounds: dict[str, tuple[float, float, float, float]] = {}

    def covering(self, target: FieldTarget) -> WarpedVRT | None:
        for path in target.orthos:
            vrt = self._open(path)
            if vrt is not None:
                w, s, e, n = self.bounds[path]
                if w <= target.lon <= e and s <= target.lat <= n:
                    return vrt
        return None

    def _open(self, path: str) -> WarpedVRT | None:
        if path not in self.vrts:
            try:
                src = self.stack.enter_context(rasterio.open(path))
                self.bounds[path] = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
                self.vrts[path] = self.stack.enter_context(WarpedVRT(
                    src, crs=_MERCATOR, transform=self.grid, width=self.size[0],
                    height=self.size[1], resampling=Resampling.average))
            except (RasterioIOError, ValueError, TypeError):
                self.vrts[path] = None  # moved, deleted or not georeferenced: no imagery from it
        return self.vrts[path]


def _read_rgba(vrt: WarpedVRT, window: Window) -> np.ndarray:
    """RGB, black where the orthomosaic has no data, and its valid mask as alpha."""
    indexes = [1, 2, 3] if vrt.count >= 3 else [1, 1, 1]
    data = to_uint8(vrt.read(indexes, window=window), vrt.nodata)
    mask = vrt.dataset_mask(window=window)
    data[:, mask == 0] = 0
    return np.concatenate([data, (mask > 0).astype("uint8")[None] * 255])


def _count_tiles(path: Path) -> tuple[int, int]:
    """Full-resolution tiles written and their bytes."""
    con = sqlite3.connect(path)
    try:
        n, size = con.execute(
            f"SELECT COUNT(*), SUM(LENGTH(tile_data)) FROM {IMAGERY_TABLE}").fetchone()
        return int(n), int(size or 0)
    finally:
        con.close()
