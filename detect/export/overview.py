"""The report's overview: every orthomosaic of a mission on one map, with a scale bar and north arrow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from affine import Affine
from pyproj import CRS
from rasterio.warp import Resampling, reproject, transform_bounds

from poppyscan.tiles.geometry import connected_groups
from poppyscan.tiles.raster import RasterInfo, decimated_read_is_cheap, overview_read, to_uint8

__all__ = ["GROUP_GAP_M", "group_far_apart", "mission_overview", "mission_overviews"]

FOOTPRINT_GREY = 128
# Files farther apart than this are drawn as separate overviews: one map of two valleys 10 km
# apart still shows plots; one of two continents is a black box with a 2000 km scale bar.
GROUP_GAP_M = 10_000.0


def mission_overviews(infos: Sequence[RasterInfo], crs: CRS, *, max_px: int = 1600,
                      labels: dict[str, str] | None = None) -> list[tuple[str, tuple]]:
    """``[(caption, overview)]``: one overview per group of files lying near each other.

    One group is drawn in ``crs``; several each in their first file's CRS, captioned
    with their files' ``labels`` (full path -> label; default: file names).
    """
    groups = group_far_apart(infos)
    out = []
    for group in groups:
        names = [(labels or {}).get(str(i.path)) or Path(i.path).name for i in group]
        caption = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        out.append((caption, mission_overview(group, crs if len(groups) == 1 else group[0].crs,
                                              max_px=max_px)))
    return out


def group_far_apart(infos: Sequence[RasterInfo], gap_m: float = GROUP_GAP_M
                    ) -> list[list[RasterInfo]]:
    """``infos`` in groups whose footprints lie within ``gap_m`` of another of the group."""
    boxes = [transform_bounds(i.crs, "EPSG:4326", *_bounds(i)) for i in infos]
    near = [(a, b) for a in range(len(infos)) for b in range(a + 1, len(infos))
            if _gap_m(boxes[a], boxes[b]) <= gap_m]
    ordered: dict[int, list[RasterInfo]] = {}  # groups in the order of their first file
    for group, info in zip(connected_groups(len(infos), np.array(near)), infos, strict=True):
        ordered.setdefault(int(group), []).append(info)
    return list(ordered.values())


def _gap_m(a, b) -> float:
    """Distance between two lon/lat boxes, equirectangular (good to a few % at this scale)."""
    dlon = max(0.0, b[0] - a[2], a[0] - b[2])
    dlat = max(0.0, b[1] - a[3], a[1] - b[3])
    lat = math.radians((a[1] + a[3] + b[1] + b[3]) / 4)
    return math.hypot(dlon * 111_320 * math.cos(lat), dlat * 110_540)


def mission_overview(infos: Sequence[RasterInfo], crs: CRS, *, max_px: int = 1600):
    """``(rgb, transform, crs)``: all ``infos`` mosaicked in ``crs`` (projected), at most ``max_px``.

    A large orthomosaic without overviews is drawn as its grey footprint: reading
    it decimated would decode every pixel again after detection (``gdaladdo``
    adds overviews).
    """
    bounds = np.array([transform_bounds(info.crs, crs, *_bounds(info)) for info in infos])
    left, bottom = bounds[:, 0].min(), bounds[:, 1].min()
    right, top = bounds[:, 2].max(), bounds[:, 3].max()
    res = max(right - left, top - bottom) / max_px
    width, height = max(1, math.ceil((right - left) / res)), max(1, math.ceil((top - bottom) / res))
    transform = Affine(res, 0, left, 0, -res, top)
    canvas = np.zeros((3, height, width), dtype=np.uint8)
    for info in infos:
        if decimated_read_is_cheap(info):
            data, mask, src_transform = overview_read(info, max_px=max_px)
            rgb = to_uint8(data, info.stretch)
            rgb[:, ~mask] = 0
        else:
            src_transform = info.transform @ Affine.scale(info.width, info.height)
            rgb = np.full((3, 1, 1), FOOTPRINT_GREY, dtype=np.uint8)
        part = np.zeros_like(canvas)
        reproject(rgb, part, src_transform=src_transform, src_crs=info.crs, src_nodata=0,
                  dst_transform=transform, dst_crs=crs, dst_nodata=0, resampling=Resampling.average)
        filled = part.any(axis=0)
        canvas[:, filled] = part[:, filled]
    image = np.ascontiguousarray(canvas.transpose(1, 2, 0))
    _scale_bar(image, res)
    _north_arrow(image)
    return image, transform, crs


def _bounds(info: RasterInfo) -> tuple[float, float, float, float]:
    t = info.transform
    xs = [t.c, t.c + t.a * info.width]
    ys = [t.f, t.f + t.e * info.height]
    return min(xs), min(ys), max(xs), max(ys)


def nice_length_m(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``max_m``.

    >>> nice_length_m(370.0), nice_length_m(0.9)
    (200.0, 0.5)
    """
    power = 10 ** math.floor(math.log10(max_m))
    return float(max(step * power for step in (1, 2, 5) if step * power <= max_m))


def _scale_bar(image: np.ndarray, res_m: float) -> None:
    """A bar of a round length (about a fifth of the width) in the lower left corner."""
    h, w = image.shape[:2]
    length_m = nice_length_m(w * res_m / 5)
    length_px = round(length_m / res_m)
    x0, y0 = max(8, w // 40), h - max(10, h // 30)
    cv2.rectangle(image, (x0 - 4, y0 - 22), (x0 + length_px + 4, y0 + 6), (255, 255, 255), -1)
    cv2.line(image, (x0, y0), (x0 + length_px, y0), (0, 0, 0), 3)
    label = f"{length_m:g} m" if length_m < 1000 else f"{length_m / 1000:g} km"
    cv2.putText(image, label, (x0, y0 - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)


def _north_arrow(image: np.ndarray) -> None:
    """Grid north (up in the projected CRS) in the upper right corner."""
    h, w = image.shape[:2]
    size = max(18, min(h, w) // 14)
    x, y = w - size - 8, 8
    cv2.rectangle(image, (x - 4, y - 4), (x + size + 4, y + 2 * size + 4), (255, 255, 255), -1)
    tip, base = (x + size // 2, y + size // 4), y + size + size // 2
    triangle = np.array([tip, (x + size // 6, base), (x + size // 2, base - size // 4),
                         (x + 5 * size // 6, base)], dtype=np.int32)
    cv2.fillPoly(image, [triangle], (0, 0, 0), cv2.LINE_AA)
    cv2.putText(image, "N", (x + size // 2 - 6, y + 2 * size), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
