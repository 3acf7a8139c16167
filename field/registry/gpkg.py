"""The smallest GeoPackage 1.3 a sqlite3 connection can keep: core tables and geometry blobs.

The registry writes its tables with plain SQL inside one transaction, so it
needs no GDAL handle and every change commits or rolls back whole. QGIS, GDAL
and QField read the result as an ordinary GeoPackage: feature tables (one
geometry column each, EPSG:4326) and attribute tables, all listed in
``gpkg_contents``.
"""

from __future__ import annotations

import sqlite3
import struct

import shapely
from pyproj import CRS

__all__ = ["APPLICATION_ID", "decode_geometry", "encode_geometry", "init_geopackage",
           "register_table"]

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10300  # GeoPackage 1.3.0
SRS_ID = 4326
# Envelope bytes by the header's envelope indicator (0 none, 1 xy, 2 xyz, 3 xym, 4 xyzm).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

_CORE_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
"""


def init_geopackage(con: sqlite3.Connection) -> None:
    """Create the GeoPackage core tables and the spatial reference systems it needs."""
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {USER_VERSION}")
    for statement in filter(str.strip, _CORE_SQL.split(";")):  # executescript would commit
        con.execute(statement)
    rows = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
        ("WGS 84 geodetic", SRS_ID, "EPSG", SRS_ID, CRS.from_epsg(SRS_ID).to_wkt("WKT1_GDAL"),
         "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
    ]
    con.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", rows)


def register_table(con: sqlite3.Connection, table: str, *, geometry_type: str | None = None,
                   description: str = "") -> None:
    """List ``table`` in gpkg_contents: a feature table (geometry column ``geom``) or attributes."""
    kind = "features" if geometry_type else "attributes"
    con.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "srs_id) VALUES (?, ?, ?, ?, ?)",
        (table, kind, table, description, SRS_ID if geometry_type else None),
    )
    if geometry_type:
        con.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                    (table, geometry_type, SRS_ID))


def encode_geometry(geom: shapely.Geometry | None) -> bytes | None:
    """GeoPackageBinary of a lon/lat geometry: header (xy envelope unless a point) + ISO WKB."""
    if geom is None:
        return None
    empty = geom.is_empty
    indicator = 0 if empty or geom.geom_type == "Point" else 1
    flags = 0x01 | (indicator << 1) | (0x10 if empty else 0)  # little-endian header values
    header = b"GP" + struct.pack("<BBi", 0, flags, SRS_ID)
    if indicator:
        xmin, ymin, xmax, ymax = geom.bounds
        header += struct.pack("<4d", xmin, xmax, ymin, ymax)
    return header + shapely.to_wkb(geom, byte_order=1, flavor="iso")


def decode_geometry(blob: bytes | None) -> shapely.Geometry | None:
    """The shapely geometry of a GeoPackageBinary blob (as GDAL, QGIS or this module wrote it)."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (no 'GP' magic)")
    indicator = (blob[3] >> 1) & 0x07
    return shapely.from_wkb(bytes(blob[8 + _ENVELOPE_BYTES[indicator]:]))
