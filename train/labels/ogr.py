"""Read label polygons from any OGR vector file (GeoJSON, GeoPackage, shapefile, ...)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read as ogr_read

from poppyscan.errors import LabelError
from poppyscan.user_files import gpkg_tables, interrupted, open_sqlite

from ._files import class_name
from .georef import check_labels, polygon_parts
from .labelset import LabelSet

__all__ = ["read_geometries", "read_ogr"]

log = logging.getLogger(__name__)

# GDAL warnings that mean a feature lost (part of) its geometry: it would vanish silently.
_LOST_GEOMETRY = re.compile(r"NULL geometry|Invalid coord|OGRGeoJSONRead", re.IGNORECASE)
_POLYGONAL = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}


def read_ogr(
    path: str | os.PathLike,
    *,
    layer: str | int | None = None,
    class_field: str | None = "label",
    default_class: str | None = None,
) -> LabelSet:
    """Label polygons of one layer of a vector file, in the file's CRS.

    ``layer``: name or index; default the only layer (LabelError if there are
    several). ``class_field``: attribute holding the class name (default
    ``"label"``). ``default_class`` (default None): the class of features whose
    layer has no such field or whose value is empty; without it such features
    are a LabelError, never a silent guess. MultiPolygons are split into their
    parts, invalid polygons repaired with ``make_valid``, features without
    geometry skipped; points, lines and polygons without area raise LabelError,
    as do coordinates beyond +-180/+-90 in a geographic CRS (a GeoJSON without a
    ``crs`` member holding projected metres).
    """
    path = Path(path)
    meta, geoms, field_data = _read_layer(path, layer)
    _check_degrees(path, geoms, meta["crs"])
    classes = _class_values(path, meta, field_data, len(geoms), class_field, default_class)
    return _polygon_labels(path, geoms, classes, meta["crs"])


def read_geometries(
    path: str | os.PathLike, *, layer: str | int | None = None, layer_flag: str = "--layer"
) -> tuple[np.ndarray, str]:
    """Every non-empty geometry of one layer, of any type, and the layer's CRS.

    ``layer_flag`` names the option that picks a layer, for the error a file of
    several layers raises when ``layer`` is None.
    """
    path = Path(path)
    meta, geoms, _ = _read_layer(path, layer, layer_flag)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return geoms[keep], meta["crs"]


def _read_layer(path: Path, layer: str | int | None,
                layer_flag: str = "--layer") -> tuple[dict, np.ndarray, list]:
    """Metadata, geometries and attribute columns of one layer, which must have a CRS."""
    if path.suffix.lower() == ".gpkg":
        _check_gpkg(path)
    if layer is None:
        layer = _only_layer(path, layer_flag)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            meta, _, wkb, field_data = ogr_read(str(path), layer=layer, force_2d=True)
    except (DataSourceError, DataLayerError, UnicodeDecodeError) as err:
        raise LabelError(f"{path}: cannot read as a vector file ({_first_line(err)})") from None
    for warning in caught:
        if _LOST_GEOMETRY.search(str(warning.message)):
            raise LabelError(f"{path}: GDAL could not read a feature's geometry "
                             f"({_first_line(warning.message)})")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if not meta.get("crs"):
        raise LabelError(
            f"{path}: vector file has no CRS; its features cannot be placed on the map "
            "(save it with its CRS, e.g. add a .prj for a shapefile)"
        )
    try:
        geoms = shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as err:
        raise LabelError(f"{path}: a feature's geometry is malformed ({err})") from None
    return meta, geoms, field_data


def _check_gpkg(path: Path) -> None:
    """Before GDAL runs its queries: feature tables that are tables, read within a work budget."""
    try:
        con = open_sqlite(path, path, error=LabelError)
    except sqlite3.Error as err:
        raise LabelError(f"{path}: cannot read as a GeoPackage ({err})") from None
    try:
        gpkg_tables(con, path, ("features",), error=LabelError)
    except sqlite3.DatabaseError as err:
        raise interrupted(con, err) from None
    finally:
        con.close()


def _first_line(err: BaseException) -> str:
    return next(iter(str(err).splitlines()), type(err).__name__)[:200]


def _check_degrees(path: Path, geoms: np.ndarray, crs: str) -> None:
    """LabelError when a geographic layer holds numbers that cannot be degrees."""
    try:
        geographic = pyproj.CRS.from_user_input(crs).is_geographic
    except pyproj.exceptions.CRSError as err:
        raise LabelError(f"{path}: unusable CRS ({_first_line(err)})") from None
    coords = shapely.get_coordinates(geoms)
    if not geographic or not len(coords):
        return
    x, y = np.abs(coords).max(axis=0)
    if x > 180 or y > 90:
        raise LabelError(
            f"{path}: coordinates reach {x:.6g}, {y:.6g}, which are not degrees, but the CRS is "
            "geographic (a GeoJSON without a 'crs' member is read as WGS 84 longitude/latitude); "
            "save the file with its projected CRS (e.g. ogr2ogr -a_srs EPSG:32647 out.gpkg in.geojson)"
        )


def _only_layer(path: Path, layer_flag: str) -> int:
    try:
        layers = pyogrio.list_layers(str(path))
    except (DataSourceError, DataLayerError, UnicodeDecodeError) as err:
        raise LabelError(f"{path}: cannot read as a vector file ({_first_line(err)})") from None
    if len(layers) > 1:
        names = ", ".join(str(name) for name, _ in layers)
        raise LabelError(
            f"{path}: has {len(layers)} layers ({names}); choose one with layer= / {layer_flag}"
        )
    return 0


def _class_values(
    path: Path,
    meta: dict,
    field_data: list,
    n: int,
    class_field: str | None,
    default_class: str | None,
) -> list[str]:
    fields = [str(f) for f in meta["fields"]]
    if class_field is None or class_field not in fields:
        if n and default_class:
            if class_field is not None:
                log.warning("%s: no %r field (fields: %s); every label gets class %r", path,
                            class_field, ", ".join(fields) or "none", default_class)
            return [default_class] * n
        if n:
            raise LabelError(
                f"{path}: no {class_field!r} field to take classes from (fields: "
                f"{', '.join(fields) or 'none'}); name it with class_field= / --class-field, or "
                "give every label one class with default_class= / --default-class NAME"
            )
        return []
    values = field_data[fields.index(class_field)]
    return [class_name(v, default_class, path=path, what=f"feature {i} ({class_field} field)")
            for i, v in enumerate(values)]


def _polygon_labels(path: Path, geoms: np.ndarray, classes: list[str], crs: str) -> LabelSet:
    out_geoms: list = []
    out_classes: list[str] = []
    for index, (geom, name) in enumerate(zip(geoms, classes, strict=True)):
        if geom is None or geom.is_empty:
            continue
        kind = shapely.get_type_id(geom)
        if kind == shapely.GeometryType.GEOMETRYCOLLECTION:
            kinds = set(shapely.get_type_id(shapely.get_parts(geom)).tolist())
        else:
            kinds = {kind}
        if not kinds <= _POLYGONAL:
            raise LabelError(
                f"{path}: feature {index} is a {geom.geom_type}; labels must be polygons or boxes "
                "(buffer points into plot outlines first)"
            )
        try:
            parts = polygon_parts(geom)
        except shapely.errors.GEOSException as err:
            raise LabelError(f"{path}: feature {index} cannot be repaired ({err})") from None
        if not parts:
            raise LabelError(f"{path}: feature {index} is a polygon without area")
        out_geoms.extend(parts)
        out_classes.extend([name] * len(parts))
    return check_labels(
        LabelSet(np.array(out_geoms, dtype=object), tuple(out_classes), crs, str(path)))
