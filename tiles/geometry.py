"""Pure geometry between chip pixels and map coordinates.

Pixel coordinates follow GDAL's convention: (0, 0) is the *outer corner* of the
top-left pixel, so a pixel box maps through the affine transform as is, with
no half-pixel shift. Pixel (col, row) covers [col, col+1) x [row, row+1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import shapes
from shapely.geometry import Polygon

from poppyscan.errors import ConfigError

__all__ = [
    "connected_groups",
    "mask_to_polygon",
    "pixel_box_to_polygon",
    "pixel_boxes_to_polygons",
    "pixel_polygons_to_map",
    "polygon_to_pixel_box",
    "reproject_geometry",
    "utm_crs",
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


def pixel_polygons_to_map(transform: Affine, rings_px: Sequence[np.ndarray]) -> np.ndarray:
    """Map pixel polygons (each an (N, 2) array of col, row) through ``transform``.

    Rings are kept as drawn (one polygon each, oriented counter-clockwise);
    repairing hand-drawn self-intersections is the caller's business.
    """
    polys = np.array(
        [shapely.Polygon(np.asarray(r, dtype="float64")) for r in rings_px], dtype=object
    )

    def to_map(xy: np.ndarray) -> np.ndarray:
        xs, ys = transform @ (xy[:, 0], xy[:, 1])
        return np.column_stack([xs, ys])

    mapped = shapely.transform(polys, to_map) if len(polys) else polys
    return shapely.orient_polygons(mapped) if len(mapped) else mapped


def polygon_to_pixel_box(transform: Affine, geom) -> tuple[float, float, float, float]:
    """Pixel box ``xmin, ymin, xmax, ymax`` that encloses ``geom`` (map coordinates)."""
    coords = shapely.get_coordinates(geom)
    cols, rows = ~transform @ (coords[:, 0], coords[:, 1])
    return float(np.min(cols)), float(np.min(rows)), float(np.max(cols)), float(np.max(rows))


def mask_to_polygon(mask: np.ndarray, transform: Affine, *, cell_px: int = 1):
    """Map polygon of the True pixels of ``mask`` (H, W), e.g. a chip's valid area.

    With ``cell_px`` > 1 it is traced on square cells of that many pixels (a
    cell counts when at least half of it is True; a partial last row or
    column of cells is left out): fewer vertices for a coarser outline. An
    all-True mask gives its whole footprint.

    >>> mask = np.zeros((4, 4), dtype=bool); mask[:, :2] = True
    >>> mask_to_polygon(mask, Affine(0.5, 0, 100, 0, -0.5, 200)).bounds
    (100.0, 198.0, 101.0, 200.0)
    """
    height, width = mask.shape
    if mask.all():
        return pixel_box_to_polygon(transform, 0, 0, width, height)
    rows, cols = height // cell_px, width // cell_px
    cells = mask[: rows * cell_px, : cols * cell_px].reshape(rows, cell_px, cols, cell_px)
    traced = (cells.mean(axis=(1, 3)) >= 0.5).astype("uint8")
    polygons = [
        shapely.geometry.shape(geom)
        for geom, _ in shapes(traced, mask=traced > 0, transform=transform @ Affine.scale(cell_px))
    ]
    return shapely.union_all(np.array(polygons, dtype=object)) if polygons else shapely.Polygon()


def connected_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Group label (0, 1, ... in order of first member) of ``n`` items joined by index ``pairs``.

    Items linked directly or through a chain share a label: the connected
    components of the graph, e.g. chips or boxes that overlap one another.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    labels = np.arange(n)  # each item's root: the least item of its tree
    a, b = pairs[:, 0], pairs[:, 1]
    while True:  # numpy only (the base install has no scipy): hook roots, then compress
        ra, rb = labels[a], labels[b]
        apart = ra != rb
        if not apart.any():
            break
        # Each tree with a smaller neighbour hooks under the least of them; then paths shorten.
        np.minimum.at(labels, np.maximum(ra, rb)[apart], np.minimum(ra, rb)[apart])
        while not np.array_equal(up := labels[labels], labels):
            labels = up
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def reproject_geometry(geom, src_crs, dst_crs, *, max_segment: float | np.ndarray | None = 1.0):
    """``geom`` (one geometry or an array of them) from ``src_crs`` to ``dst_crs``, unchanged
    when the two are the same CRS.

    Edges are first densified to ``max_segment`` (source CRS units; one per
    geometry for an array) so that a straight edge keeps following the same
    ground in the new CRS; ``None`` moves the vertices only. A point the
    transformation cannot reach becomes ``inf``.

    >>> square = shapely.box(500_000, 2_000_000, 500_010, 2_000_010)
    >>> lonlat = reproject_geometry(square, "EPSG:32647", "EPSG:4326", max_segment=None)
    >>> [round(v, 4) for v in lonlat.bounds]
    [99.0, 18.0887, 99.0001, 18.0888]
    """
    src, dst = CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs)
    if src == dst:
        return geom
    transformer = _transformer(src.to_wkt(), dst.to_wkt())
    dense = geom if max_segment is None else shapely.segmentize(geom, max_segment)
    return shapely.transform(
        dense, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone holding ``lon, lat``; ConfigError outside 80 S to 84 N.

    A point on a zone boundary goes to the zone east of it, one on the equator to the north.

    >>> utm_crs(99.5, 18.8).to_epsg(), utm_crs(-82.0, 29.7).to_epsg(), utm_crs(99.5, -1.0).to_epsg()
    (32647, 32617, 32747)
    >>> utm_crs(102.0, 20.3).to_epsg()
    32648
    """
    if not (-80.0 <= lat <= 84.0 and -180.0 <= lon <= 180.0):
        raise ConfigError(f"no UTM zone at lon {lon:.4f}, lat {lat:.4f}: UTM spans 80S to 84N")
    # Zone arithmetic, not pyproj's area-of-use query: the query takes ~10 ms a call and the
    # plain 6-degree zones are what EPSG's 326xx/327xx codes are.
    zone = min(60, int(math.floor((lon + 180.0) / 6.0)) + 1)
    return _epsg_crs((32600 if lat >= 0 else 32700) + zone)


@lru_cache(maxsize=128)
def _epsg_crs(code: int) -> CRS:
    return CRS.from_epsg(code)


@lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)
