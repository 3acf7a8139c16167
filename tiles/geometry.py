"""Pure geometry between chip pixels and map coordinates.

Pixel coordinates follow GDAL's convention: (0, 0) is the *outer corner* of the
top-left pixel, so a pixel box maps through the affine transform as is, with
no half-pixel shift. Pixel (col, row) covers [col, col+1) x [row, row+1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import Polygon

__all__ = [
    "pixel_box_to_polygon",
    "pixel_boxes_to_polygons",
    "polygon_to_pixel_box",
    "transform_bounds_box",
]


def pixel_boxes_to_polygons(transform: Affine, boxes_px: np.ndarray) -> np.ndarray:
    """Map pixel boxes (N, 4) as ``xmin, ymin, xmax, ymax`` to map polygons.

    Every corner goes through ``transform``, so rotated transforms give rotated
    polygons. Rings are counter-clockwise in map space for north-up rasters.
    """
    boxes_px = np.asarray(boxes_px, dtype="float64").reshape(-1, 4)
    x0, y0, x1, y1 = boxes_px.T
    # Corners in pixel space, ordered so the ring is CCW once y flips (north up).
    cols = np.stack([x0, x0, x1, x1, x0], axis=1)
    rows = np.stack([y0, y1, y1, y0, y0], axis=1)
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    xs = a * cols + b * rows + c
    ys = d * cols + e * rows + f
    coords = np.stack([xs, ys], axis=-1)
    return shapely.polygons(coords)


def pixel_box_to_polygon(
    transform: Affine, xmin: float, ymin: float, xmax: float, ymax: float
) -> Polygon:
    """Map one pixel box to a map polygon (see :func:`pixel_boxes_to_polygons`)."""
    return pixel_boxes_to_polygons(transform, np.array([[xmin, ymin, xmax, ymax]]))[0]


def polygon_to_pixel_box(transform: Affine, geom) -> tuple[float, float, float, float]:
    """Pixel box ``xmin, ymin, xmax, ymax`` that encloses ``geom`` (map coordinates)."""
    coords = shapely.get_coordinates(geom)
    cols, rows = ~transform @ (coords[:, 0], coords[:, 1])
    return float(np.min(cols)), float(np.min(rows)), float(np.max(cols)), float(np.max(rows))


def transform_bounds_box(transform: Affine, width_px: int, height_px: int) -> Sequence[float]:
    """Map bounds ``left, bottom, right, top`` of a ``width_px`` x ``height_px`` grid."""
    poly = pixel_box_to_polygon(transform, 0, 0, width_px, height_px)
    return poly.bounds
