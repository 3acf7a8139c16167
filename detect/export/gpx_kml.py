"""Targets for GPS units (GPX waypoints) and Google Earth / phones (KML placemarks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyogrio.raw import write as ogr_write
from shapely.geometry import Point

from poppyscan.atomic import atomic_path
from poppyscan.detect.export._labels import (
    conf_band,
    ordered_targets,
    target_description,
    target_name,
)
from poppyscan.detect.targets import Target

__all__ = ["GPX_SYMBOL", "kml_driver", "write_targets_gpx", "write_targets_kml"]

GPX_SYMBOL = "Flag, Red"  # a Garmin symbol name most handhelds know


def write_targets_gpx(targets: Sequence[Target], path: str | os.PathLike) -> Path:
    """Write one GPX 1.1 waypoint per target, in rank order, names starting with the id."""
    ordered = ordered_targets(targets)
    fields = {
        "name": _strings(target_name(t) for t in ordered),
        "cmt": _strings(
            f"rank {t.rank}, conf {round(t.conf * 100):d}%, {t.area_m2:.0f} m2" for t in ordered
        ),
        "desc": _strings(target_description(t) for t in ordered),
        "sym": _strings(GPX_SYMBOL for _ in ordered),
        "type": _strings(f"{t.label} target ({conf_band(t.conf)[0]} confidence)" for t in ordered),
    }
    points = [Point(t.lon, t.lat) for t in ordered]
    with atomic_path(path) as tmp:
        _write(tmp, "GPX", "waypoints", "Point", points, fields)
    return Path(path)


def write_targets_kml(
    targets: Sequence[Target], path: str | os.PathLike, *, plots: bool = True
) -> Path:
    """Write placemarks (folder ``targets``) and, with ``plots=True``, outlines (``plots``).

    Uses GDAL's LIBKML driver when present; the older KML driver cannot add a
    second layer, so with it only the points are written.
    """
    ordered = ordered_targets(targets)
    driver = kml_driver()
    # No per-feature colours: an OGR_STYLE field crashed LIBKML (GDAL 3.12.4, pyogrio 0.13).
    fields = {
        "name": _strings(target_name(t) for t in ordered),
        "description": _strings(target_description(t) for t in ordered),
        "target_id": _strings(t.target_id for t in ordered),
        "rank": np.array([t.rank for t in ordered], dtype="int32"),
        "conf": np.array([round(t.conf, 4) for t in ordered], dtype="float64"),
        "area_m2": np.array([round(t.area_m2, 1) for t in ordered], dtype="float64"),
        "status": _strings(t.status for t in ordered),
    }
    points = [Point(t.lon, t.lat) for t in ordered]
    with atomic_path(path) as tmp:
        _write(tmp, driver, "targets", "Point", points, fields)
        if plots and driver == "LIBKML":
            # KML wants outer rings counter-clockwise, like RFC 7946.
            outlines = [shapely.orient_polygons(t.polygon, exterior_cw=False) for t in ordered]
            kinds = {g.geom_type for g in outlines}
            plot_fields = {k: fields[k] for k in ("name", "description", "target_id", "conf")}
            plot_type = "MultiPolygon" if "MultiPolygon" in kinds else "Polygon"
            _write(tmp, driver, "plots", plot_type, outlines, plot_fields, append=True)
    return Path(path)


def kml_driver() -> str:
    """``"LIBKML"`` when this GDAL build has it, else ``"KML"``."""
    return "LIBKML" if "LIBKML" in pyogrio.list_drivers(write=True) else "KML"


def _write(path, driver, layer, geometry_type, geoms, fields, *, append=False) -> None:
    wkb = shapely.to_wkb(np.array(geoms, dtype=object)) if geoms else np.array([], dtype=object)
    ogr_write(
        str(path),
        wkb,
        list(fields.values()),
        list(fields),
        layer=layer,
        driver=driver,
        geometry_type=geometry_type,
        crs="EPSG:4326",
        promote_to_multi=geometry_type.startswith("Multi"),
        append=append,
    )


def _strings(values) -> np.ndarray:
    return np.array(list(values), dtype=object)
