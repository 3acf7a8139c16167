"""Where the model actually looked: the union of processed chip areas, as RFC 7946 GeoJSON.

Crews need it to tell "no target here" from "not searched here".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import shapely
from pyproj import CRS

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export import _rfc7946
from poppyscan.errors import ConfigError
from poppyscan.tiles.geometry import reproject_geometry, utm_crs

__all__ = ["area_m2", "coverage_to_wgs84", "union_footprints", "write_coverage_geojson"]

_METRES_PER_DEGREE = 111_320.0  # at the equator; only used to size densification steps


def union_footprints(footprints: shapely.Geometry | Iterable[shapely.Geometry]) -> shapely.Geometry:
    """One (multi)polygon covering every footprint, empty ones ignored."""
    if isinstance(footprints, shapely.Geometry):
        footprints = [footprints]
    geoms = [g for g in footprints if g is not None and not g.is_empty]
    if not geoms:
        return shapely.MultiPolygon()
    return shapely.union_all(geoms)


def area_m2(geom: shapely.Geometry, crs: Any) -> float:
    """Area in square metres; a geographic ``crs`` is projected to its UTM zone first."""
    crs = CRS.from_user_input(crs)
    if geom.is_empty:
        return 0.0
    if crs.is_geographic:
        utm = utm_crs(geom.centroid.x, geom.centroid.y)
        return float(reproject_geometry(geom, crs, utm, max_segment=None).area)
    return float(geom.area) * _metres_per_unit(crs) ** 2


def coverage_to_wgs84(
    geom: shapely.Geometry, crs: Any, *, max_segment_m: float = 100.0
) -> shapely.Geometry:
    """Reproject to WGS84 lon/lat, adding vertices every ``max_segment_m`` so edges stay true."""
    if max_segment_m <= 0:
        raise ConfigError(f"max_segment_m={max_segment_m} is invalid: use a length > 0 metres")
    crs = CRS.from_user_input(crs)
    step = max_segment_m / (_METRES_PER_DEGREE if crs.is_geographic else _metres_per_unit(crs))
    return reproject_geometry(geom, crs, CRS.from_epsg(4326), max_segment=step)


def write_coverage_geojson(
    footprints: shapely.Geometry | Iterable[shapely.Geometry],
    crs: Any,
    path: str | os.PathLike,
    *,
    n_chips: int | None = None,
    max_segment_m: float = 100.0,
) -> float:
    """Write the union of ``footprints`` (in ``crs``) to ``path``; return its area in km2.

    ``footprints`` is one geometry or an iterable of them (one per processed
    chip, valid pixels only). ``n_chips`` defaults to the number of footprints
    given. ``crs`` is anything pyproj accepts (a rasterio CRS, "EPSG:32647"...).
    """
    if isinstance(footprints, shapely.Geometry):
        footprints = [footprints]
    footprints = list(footprints)
    n_chips = len(footprints) if n_chips is None else int(n_chips)
    covered = union_footprints(footprints)
    area_km2 = area_m2(covered, crs) / 1e6
    features = []
    if not covered.is_empty:
        lonlat = coverage_to_wgs84(covered, crs, max_segment_m=max_segment_m)
        props = {"area_km2": round(area_km2, 6), "n_chips": n_chips}
        features.append(_rfc7946.feature("coverage", lonlat, props))
    atomic_write_text(path, _rfc7946.dumps(_rfc7946.feature_collection(features)))
    return area_km2


def _metres_per_unit(crs: CRS) -> float:
    """Linear unit of a projected CRS in metres (1.0 for metres, 0.3048... for feet)."""
    return float(crs.axis_info[0].unit_conversion_factor)

