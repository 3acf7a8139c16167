"""Read label polygons from any OGR vector file (GeoJSON, GeoPackage, shapefile, ...)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read as ogr_read

from poppyscan.tiles.errors import LabelError

from .georef import polygon_parts
from .labelset import LabelSet

__all__ = ["read_geometries", "read_ogr"]

log = logging.getLogger(__name__)

_POLYGONAL = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}


def read_ogr(
    path: str | os.PathLike,
    *,
    layer: str | int | None = None,
    class_field: str | None = "label",
    default_class: str = "poppy",
) -> LabelSet:
    """Label polygons of one layer of a vector file, in the file's CRS.

    ``layer``: name or index; default the only layer (LabelError if there are
    several). ``class_field``: attribute holding the class name (default
    ``"label"``); when the layer has no such field, or a feature's value is
    empty, the class is ``default_class`` (default ``"poppy"``). MultiPolygons
    are split into their parts, invalid polygons repaired with ``make_valid``,
    features without geometry skipped. Points and lines raise LabelError.
    """
    path = Path(path)
    meta, geoms, field_data = _read_layer(path, layer)
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
    if layer is None:
        layer = _only_layer(path, layer_flag)
    try:
        meta, _, wkb, field_data = ogr_read(str(path), layer=layer, force_2d=True)
    except (DataSourceError, DataLayerError) as err:
        raise LabelError(f"{path}: cannot read as a vector file ({err})") from err
    if not meta.get("crs"):
        raise LabelError(
            f"{path}: vector file has no CRS; its features cannot be placed on the map "
            "(save it with its CRS, e.g. add a .prj for a shapefile)"
        )
    return meta, shapely.from_wkb(wkb), field_data


def _only_layer(path: Path, layer_flag: str) -> int:
    try:
        layers = pyogrio.list_layers(str(path))
    except DataSourceError as err:
        raise LabelError(f"{path}: cannot read as a vector file ({err})") from err
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
    default_class: str,
) -> list[str]:
    fields = [str(f) for f in meta["fields"]]
    if class_field is None or class_field not in fields:
        if class_field is not None and n:
            log.warning(
                "%s: no %r field (fields: %s); every label gets class %r",
                path,
                class_field,
                ", ".join(fields) or "none",
                default_class,
            )
        return [default_class] * n
    values = field_data[fields.index(class_field)]
    return [
        default_class
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == ""
        else str(v)
        for v in values
    ]


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
        parts = polygon_parts(geom)
        out_geoms.extend(parts)
        out_classes.extend([name] * len(parts))
    return LabelSet(np.array(out_geoms, dtype=object), tuple(out_classes), crs, str(path))
