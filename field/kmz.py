"""KMZ for phone map apps: styled placemarks by priority, thumbnails inside, a folder per crew.

``doc.kml`` (KML 2.2) holds one style per priority (a coloured dot icon stored
in ``files/``), the targets as placemarks (the description shows the crop of
the orthomosaic from ``files/thumbs/``) and the plot outlines. GDAL (LIBKML)
and Google Earth open it; OsmAnd, Organic Maps and Locus import it.
"""

from __future__ import annotations

import html
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import shapely

from poppyscan.atomic import atomic_path
from poppyscan.detect.export._imaging import hex_to_bgr
from poppyscan.detect.export._labels import CONF_BANDS
from poppyscan.field.gpx import target_description
from poppyscan.field.selection import PRIORITIES, FieldTarget

__all__ = ["KML_NS", "write_field_kmz"]

KML_NS = "http://www.opengis.net/kml/2.2"
_COLOURS = {band: colour for _, band, colour in CONF_BANDS}


def write_field_kmz(targets: Sequence[FieldTarget], path: str | os.PathLike, *,
                    title: str) -> Path:
    """Write the KMZ: ``doc.kml``, ``files/<priority>.png`` and ``files/thumbs/<id>.jpg``."""
    ET.register_namespace("", KML_NS)
    kml = ET.Element(_q("kml"))
    doc = ET.SubElement(kml, _q("Document"))
    _text(doc, "name", title)
    for priority in PRIORITIES:
        doc.append(_point_style(priority))
        doc.append(_outline_style(priority))
    crews = sorted({t.crew for t in targets}) or [""]
    for crew in crews:
        folder = ET.SubElement(doc, _q("Folder"))
        _text(folder, "name", crew or "Targets")
        members = [t for t in targets if t.crew == crew]
        for t in sorted(members, key=lambda t: (t.visit_order, t.rank)):
            folder.append(_placemark(t))
    outlines = ET.SubElement(doc, _q("Folder"))
    _text(outlines, "name", "Plot outlines")
    for t in targets:
        outlines.append(_outline(t))
    ET.indent(kml)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as kmz:
        kmz.writestr("doc.kml", ET.tostring(kml, encoding="utf-8", xml_declaration=True))
        for priority in PRIORITIES:
            kmz.writestr(f"files/{priority}.png", _icon_png(_COLOURS[priority]))
        for t in targets:
            if t.thumbnail is not None:
                kmz.write(t.thumbnail, f"files/thumbs/{t.target_id}.jpg")
    return Path(path)


def _placemark(t: FieldTarget) -> ET.Element:
    mark = ET.Element(_q("Placemark"), id=t.target_id)
    _text(mark, "name", t.target_id)
    facts = html.escape(target_description(t)).replace("\n", "<br/>")
    image = f'<img src="files/thumbs/{t.target_id}.jpg" width="256"/><br/>' if t.thumbnail else ""
    _text(mark, "description", image + facts)
    _text(mark, "styleUrl", f"#{t.priority}")
    data = ET.SubElement(mark, _q("ExtendedData"))
    for key, value in [("target_id", t.target_id), ("rank", t.rank), ("priority", t.priority),
                       ("crew_list", t.crew), ("visit_order", t.visit_order),
                       ("conf", round(t.conf, 3)), ("area_m2", round(t.area_m2, 1))]:
        _text(ET.SubElement(data, _q("Data"), name=key), "value", str(value))
    point = ET.SubElement(mark, _q("Point"))
    _text(point, "coordinates", f"{t.lon:.7f},{t.lat:.7f},0")
    return mark


def _outline(t: FieldTarget) -> ET.Element:
    mark = ET.Element(_q("Placemark"))
    _text(mark, "name", t.target_id)
    _text(mark, "styleUrl", f"#{t.priority}-outline")
    parts = [p for p in getattr(t.outline, "geoms", [t.outline])]
    parent = ET.SubElement(mark, _q("MultiGeometry")) if len(parts) > 1 else mark
    for part in parts:
        part = shapely.orient_polygons(part, exterior_cw=False)
        polygon = ET.SubElement(parent, _q("Polygon"))
        for tag, ring in [("outerBoundaryIs", part.exterior), *[("innerBoundaryIs", r)
                                                                 for r in part.interiors]]:
            linear = ET.SubElement(ET.SubElement(polygon, _q(tag)), _q("LinearRing"))
            _text(linear, "coordinates", " ".join(f"{x:.7f},{y:.7f},0" for x, y in ring.coords))
    return mark


def _point_style(priority: str) -> ET.Element:
    style = ET.Element(_q("Style"), id=priority)
    icon_style = ET.SubElement(style, _q("IconStyle"))
    _text(icon_style, "scale", "1.0")
    _text(ET.SubElement(icon_style, _q("Icon")), "href", f"files/{priority}.png")
    _text(ET.SubElement(style, _q("LabelStyle")), "scale", "0.8")
    return style


def _outline_style(priority: str) -> ET.Element:
    style = ET.Element(_q("Style"), id=f"{priority}-outline")
    line = ET.SubElement(style, _q("LineStyle"))
    _text(line, "color", _kml_colour(_COLOURS[priority]))
    _text(line, "width", "2")
    _text(ET.SubElement(style, _q("PolyStyle")), "fill", "0")
    return style


def _kml_colour(hex_colour: str, alpha: int = 255) -> str:
    """KML's aabbggrr of ``#rrggbb``."""
    b, g, r = hex_to_bgr(hex_colour)
    return f"{alpha:02x}{b:02x}{g:02x}{r:02x}"


def _icon_png(hex_colour: str, size_px: int = 32) -> bytes:
    """A filled dot with a white ring, transparent around it."""
    image = np.zeros((size_px, size_px, 4), dtype=np.uint8)
    centre, radius = (size_px // 2, size_px // 2), size_px // 2 - 2
    cv2.circle(image, centre, radius, (255, 255, 255, 255), -1, cv2.LINE_AA)
    cv2.circle(image, centre, radius - 3, (*hex_to_bgr(hex_colour), 255), -1, cv2.LINE_AA)
    return cv2.imencode(".png", image)[1].tobytes()


def _q(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, _q(tag))
    el.text = text
    return el
