"""Targets as RFC 7946 GeoJSON: points to walk to, polygons of the plots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapely.geometry import Point

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.export import _rfc7946
from poppyscan.detect.export._labels import (
    PRIORITY_COLOURS,
    ordered_targets,
    target_description,
    target_name,
    target_priority,
    target_title,
)
from poppyscan.detect.targets import Target

__all__ = ["write_targets_geojson", "write_plots_geojson"]


def write_targets_geojson(targets: Sequence[Target], path: str | os.PathLike) -> Path:
    """Write one Point feature per target (its centroid), ordered by rank."""
    features = [
        _rfc7946.feature(t.target_id, Point(t.lon, t.lat), _properties(t, polygon=False))
        for t in ordered_targets(targets)
    ]
    return atomic_write_text(path, _rfc7946.dumps(_rfc7946.feature_collection(features)))


def write_plots_geojson(targets: Sequence[Target], path: str | os.PathLike) -> Path:
    """Write one Polygon feature per target (the plot outline), ordered by rank."""
    features = [
        _rfc7946.feature(t.target_id, t.polygon, _properties(t, polygon=True))
        for t in ordered_targets(targets)
    ]
    return atomic_write_text(path, _rfc7946.dumps(_rfc7946.feature_collection(features)))


def _properties(t: Target, *, polygon: bool) -> dict[str, Any]:
    """Display properties (simplestyle-spec 1.1.0) first, then every Target field."""
    priority = target_priority(t.conf, t.status)
    colour = PRIORITY_COLOURS[priority]  # the colour of its GPX/KML symbol
    style: dict[str, Any] = {
        "name": target_name(t),
        "title": target_title(t),
        "description": target_description(t.target_id, t.conf, t.area_m2, priority=priority),
        "marker-color": colour,
    }
    if polygon:
        style.update({"stroke": colour, "stroke-width": 2, "fill": colour, "fill-opacity": 0.25})
    else:
        style["marker-size"] = "medium"
        if t.rank < 10:  # simplestyle symbols are single digits or icon names
            style["marker-symbol"] = str(t.rank)
    return {**style, **t.properties()}
