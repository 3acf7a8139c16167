"""A QGIS project (``.qgz``) that QField opens as is: layers, styles and the verdict form.

Written as QGIS 3 project XML with the standard library, so packaging needs no
QGIS; ``tests/field/test_field_package.py`` loads it with QGIS's own Python
bindings to prove it. Layers (paths relative to the project):

* ``Targets`` (``field.gpkg|layername=targets``): points coloured by priority;
  the form edits ``status`` (value map of the coded statuses), ``visited_at``
  (date-time, set to now when a crew edits the feature), ``crew``, ``note`` and
  ``photo`` (a camera/attachment widget storing ``DCIM/...`` paths relative to
  the project); every model field is shown read-only.
* ``Plot outlines`` (``field.gpkg|layername=plots``): outlines by priority.
* ``Imagery`` (``imagery.gpkg``), when the package has any.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from pyproj import CRS, Transformer

from poppyscan.atomic import atomic_path
from poppyscan.detect.export.gpkg import STATUS_LABELS
from poppyscan.field.gpkg import EDITABLE_FIELDS, MODEL_FIELDS
from poppyscan.field.qgis_style import categorized_renderer, option_map

__all__ = ["write_qgis_project"]

QGIS_VERSION = "3.22.0-Białowieża"  # the oldest QGIS the XML is written for
_ALIASES = {"status": "Verdict", "visited_at": "Visited at", "crew": "Crew", "note": "Note",
            "photo": "Photo", "target_id": "Target", "crew_list": "Crew list",
            "visit_order": "Visit order", "remark": "Why listed", "area_m2": "Area (m2)",
            "conf": "Confidence", "n_sightings": "Times seen"}


def write_qgis_project(path: str | os.PathLike, *, title: str,
                       extent: tuple[float, float, float, float], gpkg_name: str,
                       imagery_name: str | None) -> Path:
    """Write ``path`` (.qgz) for the package; ``extent`` is lon/lat (west, south, east, north)."""
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "projectCrs").append(_srs(3857))  # the imagery's: no warping on phones
    layers = [_targets_layer(gpkg_name, extent), _plots_layer(gpkg_name, extent)]
    if imagery_name:
        layers.append(_imagery_layer(imagery_name, extent))
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for layer in layers:
        ET.SubElement(tree, "layer-tree-layer", id=layer.findtext("id"), name=layer.findtext(
            "layername"), source=layer.findtext("datasource"), providerKey=layer.findtext(
            "provider"), checked="Qt::Checked", expanded="1")
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "meters"
    canvas.append(_extent(_mercator(extent), margin=0.1))
    ET.SubElement(canvas, "rotation").text = "0"
    ET.SubElement(canvas, "destinationsrs").append(_srs(3857))
    ET.SubElement(root, "projectlayers").extend(layers)
    order = ET.SubElement(root, "layerorder")
    for layer in layers:
        ET.SubElement(order, "layer", id=layer.findtext("id"))
    _properties(root)
    xml = b"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="utf-8")
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{Path(path).stem}.qgs", xml)
    return Path(path)


def _srs(epsg: int) -> ET.Element:
    crs = CRS.from_epsg(epsg)
    srs = ET.Element("spatialrefsys", nativeFormat="Wkt")
    for tag, text in [("wkt", crs.to_wkt()), ("srid", str(epsg)),
                      ("authid", f"EPSG:{epsg}"), ("description", crs.name),
                      ("geographicflag", "true" if crs.is_geographic else "false")]:
        ET.SubElement(srs, tag).text = text
    return srs


def _mercator(extent) -> tuple[float, float, float, float]:
    west, south, east, north = extent
    (x0, x1), (y0, y1) = Transformer.from_crs(4326, 3857, always_xy=True).transform(
        [west, east], [south, north])
    return x0, y0, x1, y1


def _extent(extent, *, margin: float = 0.0, tag: str = "extent") -> ET.Element:
    """``extent`` grown by ``margin`` of its size (and at least a few metres or 1e-4 degrees)."""
    west, south, east, north = extent
    floor = 50.0 if abs(west) > 360 else 1e-4
    dx, dy = (east - west) * margin + floor, (north - south) * margin + floor
    el = ET.Element(tag)
    for name, value in [("xmin", west - dx), ("ymin", south - dy), ("xmax", east + dx),
                        ("ymax", north + dy)]:
        ET.SubElement(el, name).text = repr(value)
    return el


def _map_layer(kind: str, layer_id: str, name: str, source: str, provider: str, extent,
               **attrs: str) -> ET.Element:
    layer = ET.Element("maplayer", type=kind, hasScaleBasedVisibilityFlag="0", **attrs)
    layer.append(_extent(extent))
    for tag, text in [("id", layer_id), ("datasource", source), ("layername", name)]:
        ET.SubElement(layer, tag).text = text
    ET.SubElement(layer, "srs").append(_srs(3857 if kind == "raster" else 4326))
    ET.SubElement(layer, "provider", encoding="UTF-8").text = provider
    return layer


def _targets_layer(gpkg_name: str, extent) -> ET.Element:
    layer = _map_layer("vector", "targets_layer", "Targets", f"./{gpkg_name}|layername=targets",
                       "ogr", extent, geometry="Point", wkbType="Point", readOnly="0")
    layer.append(categorized_renderer("marker"))
    config = ET.SubElement(layer, "fieldConfiguration")
    for name in (*MODEL_FIELDS, *EDITABLE_FIELDS):
        field = ET.SubElement(config, "field", name=name, configurationFlags="None")
        kind, options = _widget(name)
        ET.SubElement(ET.SubElement(field, "editWidget", type=kind), "config").append(
            option_map(options))
    aliases = ET.SubElement(layer, "aliases")
    for i, name in enumerate((*MODEL_FIELDS, *EDITABLE_FIELDS)):
        ET.SubElement(aliases, "alias", field=name, index=str(i), name=_ALIASES.get(name, ""))
    defaults = ET.SubElement(layer, "defaults")
    ET.SubElement(defaults, "default", field="visited_at", expression="now()", applyOnUpdate="1")
    ET.SubElement(layer, "editorlayout").text = "generatedlayout"
    editable = ET.SubElement(layer, "editable")
    for name in (*MODEL_FIELDS, *EDITABLE_FIELDS):
        ET.SubElement(editable, "field", name=name, editable=str(int(name in EDITABLE_FIELDS)))
    ET.SubElement(editable, "field", name="fid", editable="0")
    ET.SubElement(layer, "previewExpression").text = '"target_id"'
    ET.SubElement(layer, "mapTip").text = "[% \"target_id\" %] [% \"priority\" %] [% \"remark\" %]"
    return layer


def _widget(name: str) -> tuple[str, dict]:
    """(editor widget type, its configuration) of a targets field."""
    if name == "status":
        return "ValueMap", {"map": [{label: code} for code, label in STATUS_LABELS.items()]}
    if name == "photo":
        return "ExternalResource", {"DocumentViewer": 1, "DocumentViewerHeight": 0,
                                    "DocumentViewerWidth": 0, "FileWidget": True,
                                    "FileWidgetButton": True, "FileWidgetFilter": "",
                                    "RelativeStorage": 1, "StorageMode": 0,
                                    "PropertyCollection": {"name": "", "type": "collection"}}
    if name == "visited_at":
        return "DateTime", {"allow_null": True, "calendar_popup": True,
                            "display_format": "yyyy-MM-dd HH:mm",
                            "field_format": "yyyy-MM-ddTHH:mm:ss", "field_iso_format": True}
    if name == "note":
        return "TextEdit", {"IsMultiline": True, "UseHtml": False}
    if name == "thumbnail":
        return "ExternalResource", {"DocumentViewer": 1, "RelativeStorage": 1, "FileWidget": False}
    return "TextEdit", {"IsMultiline": False, "UseHtml": False}


def _plots_layer(gpkg_name: str, extent) -> ET.Element:
    layer = _map_layer("vector", "plots_layer", "Plot outlines", f"./{gpkg_name}|layername=plots",
                       "ogr", extent, geometry="Polygon", wkbType="MultiPolygon", readOnly="1")
    layer.append(categorized_renderer("fill"))
    return layer


def _imagery_layer(imagery_name: str, extent) -> ET.Element:
    layer = _map_layer("raster", "imagery_layer", "Imagery", f"./{imagery_name}", "gdal", extent)
    pipe = ET.SubElement(layer, "pipe")
    # Band 4 is the imagery's alpha: without it the unflown 80 % of its extent draws black.
    ET.SubElement(pipe, "rasterrenderer", type="multibandcolor", opacity="1", alphaBand="4",
                  redBand="1", greenBand="2", blueBand="3", nodataColor="")
    return layer


def _properties(root: ET.Element) -> None:
    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    srs = ET.SubElement(props, "SpatialRefSys")  # QGIS reads projectCrs only with this set
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
