"""Targets as a QField-ready GeoPackage: a `targets` point layer crews edit, a `plots` layer.

pyogrio writes the layers; sqlite3 then adds a GeoPackage schema-extension
'enum' constraint on ``targets.status``. GDAL reads it as a coded field domain,
which QGIS and QField show as a drop-down of the allowed statuses.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write
from shapely.geometry import Point

from poppyscan.atomic import atomic_path
from poppyscan.detect.export._labels import ordered_targets
from poppyscan.detect.targets import Target

__all__ = ["STATUS_DOMAIN", "STATUS_LABELS", "add_status_domain", "write_targets_gpkg"]

STATUS_DOMAIN = "poppyscan_status"
# Labels shown in the drop-down; the stored value is the code (key).
STATUS_LABELS: dict[str, str] = {
    "pending": "Pending (not visited)",
    "confirmed": "Confirmed (found as suspected)",
    "false_positive": "False positive",
    "not_found": "Not found at location",
    "inaccessible": "Inaccessible",
    "eradicated": "Eradicated",
}


def write_targets_gpkg(targets: Sequence[Target], path: str | os.PathLike) -> Path:
    """Write layers ``targets`` (points) and ``plots`` (polygons), EPSG:4326, atomically."""
    ordered = ordered_targets(targets)
    with atomic_path(path) as tmp:
        _write_points(ordered, tmp)
        _write_plots(ordered, tmp)
        add_status_domain(tmp)
    return Path(path)


def _write_points(targets: list[Target], path: Path) -> None:
    n = len(targets)
    fields = {
        "target_id": _strings([t.target_id for t in targets]),
        "rank": np.array([t.rank for t in targets], dtype="int32"),
        "label": _strings([t.label for t in targets]),
        "conf": np.array([t.conf for t in targets], dtype="float64"),
        "area_m2": np.array([t.area_m2 for t in targets], dtype="float64"),
        "status": _strings([t.status for t in targets]),
        "notes": _strings([""] * n),
        # Filled in by crews in QField; a real DateTime column gives them a date picker.
        "visit_time": np.full(n, np.datetime64("NaT"), dtype="datetime64[ms]"),
        "team": _strings([""] * n),
        "sources": _strings([";".join(t.sources) for t in targets]),
        "thumbnail": _strings([t.thumbnail for t in targets]),
    }
    masks = [None] * len(fields)
    masks[list(fields).index("visit_time")] = np.ones(n, dtype=bool)
    masks[list(fields).index("thumbnail")] = np.array([t.thumbnail is None for t in targets])
    if any(t.run_target_id for t in targets):  # named by a registry: the run's id kept beside
        fields["run_target_id"] = _strings([t.run_target_id or "" for t in targets])
        masks.append(None)
    points = [Point(t.lon, t.lat) for t in targets]
    _write_layer(path, "targets", "Point", points, fields, masks, append=False)


def _write_plots(targets: list[Target], path: Path) -> None:
    fields = {
        "target_id": _strings([t.target_id for t in targets]),
        "conf": np.array([t.conf for t in targets], dtype="float64"),
        "area_m2": np.array([t.area_m2 for t in targets], dtype="float64"),
    }
    polygons = [shapely.orient_polygons(t.polygon, exterior_cw=False) for t in targets]
    geometry_type = (
        "MultiPolygon" if any(p.geom_type == "MultiPolygon" for p in polygons) else "Polygon"
    )
    _write_layer(path, "plots", geometry_type, polygons, fields, [None] * len(fields), append=True)


def _write_layer(path, layer, geometry_type, geoms, fields, masks, *, append) -> None:
    ogr_write(
        str(path),
        shapely.to_wkb(np.array(geoms, dtype=object)) if geoms else np.array([], dtype=object),
        list(fields.values()),
        list(fields),
        field_mask=masks,
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        crs="EPSG:4326",
        promote_to_multi=geometry_type.startswith("Multi"),
        append=append,
    )


def add_status_domain(path: str | os.PathLike, table: str = "targets") -> None:
    """Attach the STATUSES enum to ``<table>.status`` (GeoPackage schema extension)."""
    con = sqlite3.connect(path)
    try:
        with con:
            con.executescript(_SCHEMA_SQL)
            con.execute(
                "INSERT OR REPLACE INTO gpkg_data_columns "
                "(table_name, column_name, name, title, description, constraint_name) "
                "VALUES (?, 'status', 'status', 'Status', "
                "'Field check result; pick one value', ?)",
                (table, STATUS_DOMAIN),
            )
            con.executemany(
                "INSERT OR IGNORE INTO gpkg_data_column_constraints "
                "(constraint_name, constraint_type, value, description) VALUES (?, 'enum', ?, ?)",
                [(STATUS_DOMAIN, code, label) for code, label in STATUS_LABELS.items()],
            )
            con.executemany(
                "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
                "SELECT ?, NULL, 'gpkg_schema', "
                "'http://www.geopackage.org/spec/#extension_schema', 'read-write' "
                "WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions "
                "WHERE table_name = ? AND extension_name = 'gpkg_schema')",
                [(t, t) for t in ("gpkg_data_columns", "gpkg_data_column_constraints")],
            )
    finally:
        con.close()


def _strings(values: list[str | None]) -> np.ndarray:
    return np.array(values, dtype=object)


# Table definitions of the GeoPackage 1.2+ schema extension, as GDAL creates them.
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  name TEXT,
  title TEXT,
  description TEXT,
  mime_type TEXT,
  constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
  CONSTRAINT gdc_tn UNIQUE (table_name, name)
);
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL,
  constraint_type TEXT NOT NULL,
  value TEXT,
  min NUMERIC,
  min_is_inclusive BOOLEAN,
  max NUMERIC,
  max_is_inclusive BOOLEAN,
  description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value)
);
"""
