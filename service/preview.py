"""The map's imagery: each orthomosaic as a small web-mercator GeoTIFF, cut into XYZ tiles on request.

The preview is made once when a file is accepted (:func:`write_preview`): a
decimated read of the whole orthomosaic (at most ``max_px`` a side, from its
overviews when it has them), reprojected to EPSG:3857 with an alpha band,
tiled and with its own overviews, so any tile is a few small reads. The
orthomosaic itself is never changed: detection reads exactly what was uploaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from poppyscan.tiles.raster import RasterInfo, overview_read, to_uint8

__all__ = ["EMPTY_TILE", "render_tile", "tile_bounds", "write_preview"]

WEB_MERCATOR = "EPSG:3857"
TILE_PX = 256
HALF_WORLD_M = math.pi * 6378137.0
EMPTY_TILE = cv2.imencode(".png", np.zeros((TILE_PX, TILE_PX, 4), np.uint8))[1].tobytes()


def write_preview(info: RasterInfo, path: Path, *, max_px: int) -> list[float]:
    """Write ``info``'s preview to ``path``; return its lon/lat bounds ``[west, south, east, north]``."""
    data, mask, transform = overview_read(info, max_px=max_px)
    rgba = np.concatenate([to_uint8(data, info.stretch), mask[None].astype(np.uint8) * 255])
    rgba[:3, ~mask] = 0
    height, width = mask.shape
    bounds = rasterio.transform.array_bounds(height, width, transform)  # west, south, east, north
    dst_transform, dst_w, dst_h = mercator_grid(info.crs, bounds, width, height)
    out = np.zeros((4, dst_h, dst_w), np.uint8)
    reproject(rgba, out, src_transform=transform, src_crs=info.crs, dst_transform=dst_transform,
              dst_crs=WEB_MERCATOR, resampling=Resampling.bilinear)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=dst_w, height=dst_h, count=4, dtype="uint8",
                   crs=WEB_MERCATOR, transform=dst_transform, tiled=True, blockxsize=TILE_PX,
                   blockysize=TILE_PX, compress="deflate", photometric="RGB", alpha="YES")
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out)
        factors = [2**k for k in range(1, 12) if max(dst_w, dst_h) / 2**k >= TILE_PX / 2]
        if factors:
            dst.build_overviews(factors, Resampling.average)
    tmp.replace(path)
    return [round(v, 7) for v in transform_bounds(info.crs, "EPSG:4326", *bounds)]


def mercator_grid(crs, bounds, width: int, height: int) -> tuple[Affine, int, int]:
    """A web-mercator grid over ``bounds`` (in ``crs``) with about as many pixels as the source.

    (rasterio's ``calculate_default_transform`` builds a VRT, which ``GDAL_SKIP=VRT`` forbids.)
    """
    west, south, east, north = transform_bounds(crs, WEB_MERCATOR, *bounds, densify_pts=21)
    res = math.sqrt((east - west) * (north - south) / (width * height))
    dst_w, dst_h = max(1, math.ceil((east - west) / res)), max(1, math.ceil((north - south) / res))
    return Affine(res, 0, west, 0, -res, north), dst_w, dst_h


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web-mercator bounds (west, south, east, north) of XYZ tile ``z/x/y``.

    >>> [round(v) for v in tile_bounds(1, 0, 0)]
    [-20037508, 0, 0, 20037508]
    """
    size = 2 * HALF_WORLD_M / 2**z
    west, north = -HALF_WORLD_M + x * size, HALF_WORLD_M - y * size
    return west, north - size, west + size, north


def render_tile(preview: Path, z: int, x: int, y: int) -> bytes:
    """The PNG of tile ``z/x/y`` of ``preview`` (transparent where it has no imagery)."""
    west, south, east, north = tile_bounds(z, x, y)
    with rasterio.open(preview) as src:
        inv = ~src.transform
        col0, row0 = inv @ (west, north)
        col1, row1 = inv @ (east, south)
        c0, r0 = max(col0, 0.0), max(row0, 0.0)
        c1, r1 = min(col1, float(src.width)), min(row1, float(src.height))
        if c1 <= c0 or r1 <= r0:
            return EMPTY_TILE
        scale_x, scale_y = TILE_PX / (col1 - col0), TILE_PX / (row1 - row0)
        px0, py0 = round((c0 - col0) * scale_x), round((r0 - row0) * scale_y)
        px1, py1 = round((c1 - col0) * scale_x), round((r1 - row0) * scale_y)
        if px1 <= px0 or py1 <= py0:
            return EMPTY_TILE
        window = Window(c0, r0, c1 - c0, r1 - r0)
        part = src.read(window=window, out_shape=(4, py1 - py0, px1 - px0),
                        resampling=Resampling.bilinear)
    canvas = np.zeros((TILE_PX, TILE_PX, 4), np.uint8)
    canvas[py0:py1, px0:px1] = part.transpose(1, 2, 0)
    bgra = canvas[:, :, [2, 1, 0, 3]]
    return cv2.imencode(".png", bgra)[1].tobytes()
