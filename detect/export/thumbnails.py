"""Small JPEG crops of the orthomosaic around each target, outline drawn, for the report and QField."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from shapely.geometry import box

from poppyscan.atomic import atomic_write_bytes
from poppyscan.detect.export._imaging import display_uint8
from poppyscan.errors import ConfigError, RasterError
from poppyscan.tiles.geometry import polygon_to_pixel_box, reproject_geometry

__all__ = ["thumbnail_bgr", "write_jpeg", "write_thumbnail"]

_METRES_PER_DEGREE = 111_320.0
_SHIFT = 4  # cv2 sub-pixel bits: outline vertices placed to 1/16 pixel


def write_thumbnail(
    raster_path: str | os.PathLike,
    polygon: shapely.Geometry,
    out_path: str | os.PathLike,
    *,
    polygon_crs: Any = None,
    pad_m: float = 5.0,
    size_px: int = 256,
    line_px: int = 2,
    colour_rgb: tuple[int, int, int] = (255, 0, 0),
    jpeg_quality: int = 85,
) -> Path:
    """Write :func:`thumbnail_bgr`'s square as a JPEG (see there for what it shows)."""
    _check_jpeg_quality(jpeg_quality)  # before the raster is read
    bgr = thumbnail_bgr(raster_path, polygon, polygon_crs=polygon_crs, pad_m=pad_m, size_px=size_px,
                        line_px=line_px, colour_rgb=colour_rgb)
    return write_jpeg(bgr, out_path, jpeg_quality=jpeg_quality)


def write_jpeg(bgr: np.ndarray, out_path: str | os.PathLike, *, jpeg_quality: int = 85) -> Path:
    """Write a BGR image (a :func:`thumbnail_bgr` square) to ``out_path`` as JPEG, atomically."""
    _check_jpeg_quality(jpeg_quality)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise RasterError(f"{out_path}: JPEG encoding of the thumbnail failed")
    return atomic_write_bytes(out_path, jpeg.tobytes())


def thumbnail_bgr(
    raster_path: str | os.PathLike,
    polygon: shapely.Geometry,
    *,
    polygon_crs: Any = None,
    pad_m: float = 5.0,
    size_px: int = 256,
    line_px: int = 2,
    colour_rgb: tuple[int, int, int] = (255, 0, 0),
) -> np.ndarray:
    """A ``size_px`` square (BGR uint8, as OpenCV draws) centred on ``polygon``, outline drawn.

    ``polygon`` is in the raster's CRS unless ``polygon_crs`` says otherwise
    (e.g. ``"EPSG:4326"`` for a Target's lon/lat polygon). The square spans the
    polygon plus ``pad_m`` metres on each side, resampled to ``size_px`` (up or
    down); parts beyond the raster are black. The first three bands are shown
    (one band as grey); alpha is ignored; non-8-bit data get a 2-98 % stretch.
    """
    _check_options(pad_m=pad_m, size_px=size_px, line_px=line_px)
    try:
        src = rasterio.open(raster_path)
    except RasterioIOError as err:
        raise RasterError(f"{raster_path}: cannot open raster for a thumbnail ({err})") from None
    with src:
        if src.crs is None:
            raise RasterError(f"{raster_path}: raster has no CRS; georeference it first")
        if polygon_crs is not None:
            polygon = reproject_geometry(polygon, polygon_crs, CRS(src.crs), max_segment=None)
        window = _square_window(src, polygon, pad_m, raster_path)
        scale = size_px / max(window.width, window.height)
        out_h, out_w = max(1, round(window.height * scale)), max(1, round(window.width * scale))
        rgb = _read_rgb(src, window, out_h, out_w)
        # Map -> thumbnail pixels: the window's transform, stretched to the output size.
        to_px = ~(
            window_transform(window, src.transform)
            @ Affine.scale(window.width / out_w, window.height / out_h)
        )
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    colour_bgr = tuple(int(c) for c in colour_rgb[::-1])
    cv2.polylines(bgr, _rings_px(polygon, to_px), True, colour_bgr, line_px, cv2.LINE_AA, _SHIFT)
    return bgr


def _check_options(*, pad_m: float, size_px: int, line_px: int) -> None:
    if not (math.isfinite(pad_m) and pad_m >= 0):
        raise ConfigError(f"pad_m={pad_m} is invalid: use metres >= 0 (default 5.0)")
    if not 16 <= size_px <= 4096:
        raise ConfigError(f"size_px={size_px} is invalid: use 16 to 4096 pixels (default 256)")
    if not 1 <= line_px <= 32:
        raise ConfigError(f"line_px={line_px} is invalid: use 1 to 32 pixels (default 2)")


def _check_jpeg_quality(jpeg_quality: int) -> None:
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"jpeg_quality={jpeg_quality} is invalid: use 1 to 100 (default 85)")


def _square_window(src, polygon, pad_m: float, raster_path) -> Window:
    """Whole-pixel window of the square (map units) around ``polygon`` plus the pad."""
    crs = CRS(src.crs)
    xmin, ymin, xmax, ymax = polygon.bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    if crs.is_geographic:
        pad_y = pad_m / _METRES_PER_DEGREE
        pad_x = pad_y / max(math.cos(math.radians(cy)), 1e-6)
    else:
        pad_x = pad_y = pad_m / float(crs.axis_info[0].unit_conversion_factor)
    half = max((xmax - xmin) / 2 + pad_x, (ymax - ymin) / 2 + pad_y)
    col0, row0, col1, row1 = polygon_to_pixel_box(
        src.transform, box(cx - half, cy - half, cx + half, cy + half)
    )
    col0, row0, col1, row1 = math.floor(col0), math.floor(row0), math.ceil(col1), math.ceil(row1)
    if col1 <= 0 or row1 <= 0 or col0 >= src.width or row0 >= src.height:
        raise RasterError(f"{raster_path}: the target polygon lies outside the raster")
    # A square in map units is a square in pixels only for square pixels; keep it square in pixels.
    side = max(col1 - col0, row1 - row0, 1)
    ccol, crow = (col0 + col1) // 2, (row0 + row1) // 2
    return Window(ccol - side // 2, crow - side // 2, side, side)


def _read_rgb(src, window: Window, out_h: int, out_w: int) -> np.ndarray:
    """(out_h, out_w, 3) uint8 RGB of the window; beyond the raster is black."""
    indexes = [1, 2, 3] if src.count >= 3 else [1, 1, 1]
    data = src.read(
        indexes,
        window=window,
        out_shape=(3, out_h, out_w),
        boundless=True,
        fill_value=0,
        resampling=Resampling.bilinear,
    )
    return np.moveaxis(display_uint8(data, src.nodata), 0, -1)


def _rings_px(polygon: shapely.Geometry, to_px: Affine) -> list[np.ndarray]:
    """Every ring of ``polygon`` as int32 (N, 2) thumbnail pixel coordinates << _SHIFT."""
    rings = []
    for part in getattr(polygon, "geoms", [polygon]):
        for ring in [part.exterior, *part.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            cols, rows = to_px @ (xy[:, 0], xy[:, 1])
            # GDAL puts (0, 0) at the pixel corner, OpenCV at the pixel centre: shift by half.
            pts = np.column_stack([cols - 0.5, rows - 0.5]) * (1 << _SHIFT)
            rings.append(np.round(pts).astype(np.int32))
    return rings

