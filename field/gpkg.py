"""The package's GeoPackage: ``targets`` crews edit in QField, ``plots`` outlines beside them.

Verdict fields (``status``, ``visited_at``, ``crew``, ``note``, ``photo``) are
the ones ``poppyscan field import`` reads back, joined on ``target_id``; every
other field is read-only in the QGIS form (:mod:`.qgis_project`). ``status``
also carries the GeoPackage enum constraint, so any GDAL client shows the
coded list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write
from shapely.geometry import Point

from poppyscan.atomic import atomic_path
from poppyscan.detect.export.gpkg import add_status_domain
from poppyscan.field.selection import FieldTarget

__all__ = ["EDITABLE_FIELDS", "GPKG_VERSION", "MODEL_FIELDS", "write_field_gpkg"]

GPKG_VERSION = "1.3"  # GDAL 3.8+ writes 1.4 by default; QGIS 3.22 / GDAL 3.6 on phones warn on it

# Fields a crew fills in, in form order.
EDITABLE_FIELDS: tuple[str, ...] = ("status", "visited_at", "crew", "note", "photo")
# Everything else in the targets layer: shown, never edited.
MODEL_FIELDS: tuple[str, ...] = (
    "target_id", "rank", "priority", "crew_list", "visit_order", "state", "remark", "mission",
    "conf", "area_m2", "first_seen", "last_seen", "n_sightings", "lon", "lat", "thumbnail",
)


def write_field_gpkg(targets: Sequence[FieldTarget], path: str | os.PathLike) -> Path:
    """Write layers ``targets`` (points, model + verdict fields) and ``plots`` (outlines)."""
    with atomic_path(path) as tmp:
        _write(tmp, "targets", "Point", [Point(t.lon, t.lat) for t in targets],
               _target_fields(targets), append=False)
        outlines = [shapely.orient_polygons(t.outline, exterior_cw=False) for t in targets]
        plot_fields = {"target_id": _text(t.target_id for t in targets),
                       "priority": _text(t.priority for t in targets),
                       "rank": np.array([t.rank for t in targets], dtype="int32")}
        _write(tmp, "plots", "MultiPolygon", outlines, plot_fields, append=True)
        add_status_domain(tmp, "targets")
    return Path(path)


def _target_fields(targets: Sequence[FieldTarget]) -> dict[str, tuple]:
    """Field name -> (values, null mask or None), model fields first."""
    n = len(targets)
    ints = {"rank": [t.rank for t in targets], "visit_order": [t.visit_order for t in targets],
            "n_sightings": [t.n_sightings for t in targets]}
    floats = {"conf": [round(t.conf, 4) for t in targets],
              "area_m2": [round(t.area_m2, 1) for t in targets],
              "lon": [round(t.lon, 7) for t in targets], "lat": [round(t.lat, 7) for t in targets]}
    texts = {"target_id": [t.target_id for t in targets], "priority": [t.priority for t in targets],
             "crew_list": [t.crew for t in targets], "state": [t.state for t in targets],
             "remark": [t.note for t in targets], "mission": [t.mission for t in targets],
             "first_seen": [t.first_seen for t in targets],
             "last_seen": [t.last_seen for t in targets],
             "thumbnail": [f"thumbs/{t.target_id}.jpg" if t.thumbnail else "" for t in targets],
             "status": ["pending"] * n, "crew": [t.crew for t in targets], "note": [""] * n,
             "photo": [""] * n}
    fields: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in (*MODEL_FIELDS, *EDITABLE_FIELDS):
        if name == "visited_at":  # a real DateTime column: QField shows a date picker
            fields[name] = (np.full(n, np.datetime64("NaT"), dtype="datetime64[ms]"),
                            np.ones(n, dtype=bool))
        elif name in ints:
            fields[name] = (np.array(ints[name], dtype="int32"), None)
        elif name in floats:
            fields[name] = (np.array(floats[name], dtype="float64"), None)
        else:
            fields[name] = (_text(texts[name]), None)
    return fields


def _write(path: Path, layer: str, geometry_type: str, geoms, fields, *, append: bool) -> None:
    values = [v[0] if isinstance(v, tuple) else v for v in fields.values()]
    masks = [v[1] if isinstance(v, tuple) else None for v in fields.values()]
    wkb = shapely.to_wkb(np.array(geoms, dtype=object)) if geoms else np.array([], dtype=object)
    ogr_write(str(path), wkb, values, list(fields), field_mask=masks, layer=layer, driver="GPKG",
              geometry_type=geometry_type, crs="EPSG:4326",
              promote_to_multi=geometry_type.startswith("Multi"), append=append,
              **({} if append else {"dataset_options": {"VERSION": GPKG_VERSION}}))


def _text(values) -> np.ndarray:
    return np.array(list(values), dtype=object)
