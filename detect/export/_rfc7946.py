"""GeoJSON text that follows RFC 7946 to the letter.

WGS84 lon/lat only, no ``crs`` member, outer rings counter-clockwise and holes
clockwise, coordinates rounded to 7 decimals (about 1 cm), a collection
``bbox``. The json module writes the text because these details need exact
control; shapely does the geometry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from poppyscan.errors import ConfigError

__all__ = ["COORD_DECIMALS", "feature", "feature_collection", "geometry_object", "dumps"]

COORD_DECIMALS = 7


def geometry_object(geom: shapely.Geometry) -> dict[str, Any]:
    """RFC 7946 geometry object of a WGS84 lon/lat shapely geometry."""
    # Round first, then orient: rounding cannot flip a ring after orientation is set.
    geom = shapely.set_precision(geom, 10.0**-COORD_DECIMALS, mode="pointwise")
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    coords = shapely.get_coordinates(geom)
    if coords.size and (np.abs(coords[:, 0]).max() > 180 or np.abs(coords[:, 1]).max() > 90):
        raise ConfigError(
            "coordinates out of WGS84 lon/lat range: reproject the geometry to EPSG:4326 first"
        )
    return _rounded(mapping(geom))


def feature(fid: str, geom: shapely.Geometry, properties: Mapping[str, Any]) -> dict[str, Any]:
    """A Feature with a string ``id`` (RFC 7946 section 3.2)."""
    return {
        "type": "Feature",
        "id": str(fid),
        "geometry": geometry_object(geom),
        "properties": dict(properties),
    }


def feature_collection(features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection with a ``bbox`` over all coordinates (none when empty)."""
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    xs, ys = [], []
    for feat in features:
        for x, y in _positions(feat["geometry"]["coordinates"]):
            xs.append(x)
            ys.append(y)
    if xs:
        collection["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    collection["features"] = list(features)
    return collection


def dumps(obj: Mapping[str, Any]) -> str:
    """Compact UTF-8 JSON text, one feature a line for readable diffs."""
    head = {k: v for k, v in obj.items() if k != "features"}
    lines = [json.dumps(f, ensure_ascii=False, allow_nan=False) for f in obj.get("features", [])]
    text = json.dumps(head, ensure_ascii=False, allow_nan=False)[:-1]
    return text + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def _rounded(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return round(obj, COORD_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return obj


def _positions(coords: Any):
    """Yield every (x, y) position of nested GeoJSON coordinates."""
    if coords and isinstance(coords[0], (int, float)):
        yield coords[0], coords[1]
        return
    for part in coords:
        yield from _positions(part)
