"""GPX 1.1, KML and KMZ for crews' map apps: the one writer of every such file poppyscan makes.

A target is a :class:`Waypoint`: the run's outputs make them from its targets
(:func:`write_targets_gpx`, :func:`write_targets_kml`), the field package from
the registry's, adding what it knows (crew list, visit order, sightings). The
symbol (GPX ``sym``, KML style) follows the target's priority and the
description comes from :func:`~poppyscan.detect.export._labels.target_description`,
so a target looks the same in every file a crew opens: GPS units, OsmAnd,
Organic Maps, Locus, Google Earth, QField.

Written with ElementTree: GPX in the element order the 1.1 schema requires
(``wpt``: time, name, cmt, desc, sym, type; then ``rte`` with ``rtept``), KML
2.2 with one style per priority, a folder per crew list and one of outlines.
Names start with the target id, which is what ``field import`` reads back.
"""

from __future__ import annotations

import html
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import shapely

from poppyscan.atomic import atomic_path, atomic_write_bytes
from poppyscan.detect.export._imaging import hex_to_bgr
from poppyscan.detect.export._labels import (
    PRIORITIES,
    PRIORITY_COLOURS,
    conf_band,
    ordered_targets,
    target_description,
    target_name,
    target_priority,
)
from poppyscan.detect.targets import Target

__all__ = ["GPX_NS", "KML_NS", "SYMBOLS", "Waypoint", "run_waypoints", "write_gpx", "write_kml",
           "write_kmz", "write_targets_gpx", "write_targets_kml"]

GPX_NS = "http://www.topografix.com/GPX/1/1"
KML_NS = "http://www.opengis.net/kml/2.2"
SYMBOLS = {"high": "Flag, Red", "medium": "Flag, Blue", "low": "Flag, Green"}  # Garmin names
_NO_CREW, _OUTLINES = "Targets", "Plot outlines"  # KML folder names


@dataclass(frozen=True)
class Waypoint:
    """One target as a map app shows it."""

    target_id: str
    name: str  # starts with the target id
    lon: float
    lat: float
    outline: shapely.Geometry | None  # Polygon or MultiPolygon, lon/lat
    priority: str  # one of PRIORITIES: the symbol and style
    description: str  # target_description's text
    comment: str  # GPX cmt: a one-line summary
    kind: str  # GPX type
    data: tuple[tuple[str, object], ...] = ()  # KML ExtendedData, in order
    thumbnail: Path | None = None  # packed into a KMZ and shown in the description
    crew: str = ""  # crew list: a GPX route and a KML folder each
    visit_order: int = 0  # stop within the crew list


def run_waypoints(targets: Sequence[Target]) -> list[Waypoint]:
    """A run's targets as waypoints, in rank order."""
    out = []
    for t in ordered_targets(targets):
        priority = target_priority(t.conf, t.status)
        out.append(Waypoint(
            t.target_id, target_name(t), t.lon, t.lat, t.polygon, priority,
            target_description(t.target_id, t.conf, t.area_m2, priority=priority),
            comment=f"rank {t.rank}, conf {round(t.conf * 100):d}%, {t.area_m2:.0f} m2",
            kind=f"{t.label} target ({conf_band(t.conf)[0]} confidence)",
            data=(("target_id", t.target_id), ("rank", t.rank), ("conf", round(t.conf, 4)),
                  ("area_m2", round(t.area_m2, 1)), ("status", t.status))))
    return out


def write_targets_gpx(targets: Sequence[Target], path: str | os.PathLike) -> Path:
    """Write one GPX 1.1 waypoint per target, in rank order, names starting with the id."""
    return write_gpx(run_waypoints(targets), path, title=_run_title(targets))


def write_targets_kml(
    targets: Sequence[Target], path: str | os.PathLike, *, plots: bool = True
) -> Path:
    """Write a placemark per target (folder ``Targets``) and, with ``plots``, the outlines."""
    waypoints = run_waypoints(targets)
    if not plots:
        waypoints = [_without_outline(w) for w in waypoints]
    return write_kml(waypoints, path, title=_run_title(targets))


def write_gpx(waypoints: Sequence[Waypoint], path: str | os.PathLike, *, title: str,
              created_at: str | None = None) -> Path:
    """Write one waypoint each (in the given order) and one route per crew list."""
    ET.register_namespace("", GPX_NS)
    gpx = ET.Element(_g("gpx"), version="1.1", creator="poppyscan")
    meta = ET.SubElement(gpx, _g("metadata"))
    _text(meta, _g("name"), title)
    _text(meta, _g("desc"), "Suspected plots to verify; name = target id first")
    if created_at:
        _text(meta, _g("time"), created_at)
    for w in waypoints:
        wpt = ET.SubElement(gpx, _g("wpt"), lat=f"{w.lat:.7f}", lon=f"{w.lon:.7f}")
        for tag, text in (("name", w.name), ("cmt", w.comment), ("desc", w.description),
                          ("sym", SYMBOLS[w.priority]), ("type", w.kind)):
            _text(wpt, _g(tag), text)
    for crew in sorted({w.crew for w in waypoints if w.crew}):
        rte = ET.SubElement(gpx, _g("rte"))
        _text(rte, _g("name"), crew)
        for w in sorted((w for w in waypoints if w.crew == crew), key=lambda w: w.visit_order):
            pt = ET.SubElement(rte, _g("rtept"), lat=f"{w.lat:.7f}", lon=f"{w.lon:.7f}")
            _text(pt, _g("name"), w.name)
            _text(pt, _g("sym"), SYMBOLS[w.priority])
    return atomic_write_bytes(path, _xml_bytes(gpx))


def write_kml(waypoints: Sequence[Waypoint], path: str | os.PathLike, *, title: str) -> Path:
    """Write a KML file: styles by priority (colours only), a folder per crew, the outlines."""
    return atomic_write_bytes(path, _xml_bytes(_kml_document(waypoints, title, packed=False)))


def write_kmz(waypoints: Sequence[Waypoint], path: str | os.PathLike, *, title: str) -> Path:
    """Write a KMZ: ``doc.kml``, ``files/<priority>.png`` and ``files/thumbs/<id>.jpg``."""
    doc = _xml_bytes(_kml_document(waypoints, title, packed=True))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as kmz:
        kmz.writestr("doc.kml", doc)
        for priority in PRIORITIES:
            kmz.writestr(f"files/{priority}.png", _icon_png(PRIORITY_COLOURS[priority]))
        for w in waypoints:
            if w.thumbnail is not None:
                kmz.write(w.thumbnail, f"files/thumbs/{w.target_id}.jpg")
    return Path(path)


def _kml_document(waypoints: Sequence[Waypoint], title: str, *, packed: bool) -> ET.Element:
    """``packed``: icons and thumbnails are in the KMZ beside ``doc.kml``."""
    ET.register_namespace("", KML_NS)
    kml = ET.Element(_k("kml"))
    doc = ET.SubElement(kml, _k("Document"))
    _text(doc, _k("name"), title)
    for priority in PRIORITIES:
        doc.append(_point_style(priority, packed=packed))
        doc.append(_outline_style(priority))
    for crew in sorted({w.crew for w in waypoints}) or [""]:
        folder = ET.SubElement(doc, _k("Folder"))
        _text(folder, _k("name"), crew or _NO_CREW)
        for w in sorted((w for w in waypoints if w.crew == crew), key=lambda w: w.visit_order):
            folder.append(_placemark(w, packed=packed))
    outlined = [w for w in waypoints if w.outline is not None]
    if outlined:
        folder = ET.SubElement(doc, _k("Folder"))
        _text(folder, _k("name"), _OUTLINES)
        for w in outlined:
            folder.append(_outline(w))
    return kml


def _placemark(w: Waypoint, *, packed: bool) -> ET.Element:
    mark = ET.Element(_k("Placemark"), id=w.target_id)
    _text(mark, _k("name"), w.name)
    facts = html.escape(w.description).replace("\n", "<br/>")
    shown = packed and w.thumbnail is not None
    image = f'<img src="files/thumbs/{w.target_id}.jpg" width="256"/><br/>' if shown else ""
    _text(mark, _k("description"), image + facts)
    _text(mark, _k("styleUrl"), f"#{w.priority}")
    data = ET.SubElement(mark, _k("ExtendedData"))
    for key, value in w.data:
        _text(ET.SubElement(data, _k("Data"), name=key), _k("value"), str(value))
    point = ET.SubElement(mark, _k("Point"))
    _text(point, _k("coordinates"), f"{w.lon:.7f},{w.lat:.7f},0")
    return mark


def _outline(w: Waypoint) -> ET.Element:
    mark = ET.Element(_k("Placemark"))
    _text(mark, _k("name"), w.name)
    _text(mark, _k("styleUrl"), f"#{w.priority}-outline")
    parts = list(getattr(w.outline, "geoms", [w.outline]))
    parent = ET.SubElement(mark, _k("MultiGeometry")) if len(parts) > 1 else mark
    for part in parts:
        part = shapely.orient_polygons(part, exterior_cw=False)  # KML: outer rings anticlockwise
        polygon = ET.SubElement(parent, _k("Polygon"))
        rings = [("outerBoundaryIs", part.exterior),
                 *[("innerBoundaryIs", r) for r in part.interiors]]
        for tag, ring in rings:
            linear = ET.SubElement(ET.SubElement(polygon, _k(tag)), _k("LinearRing"))
            _text(linear, _k("coordinates"),
                  " ".join(f"{x:.7f},{y:.7f},0" for x, y in ring.coords))
    return mark


def _point_style(priority: str, *, packed: bool) -> ET.Element:
    style = ET.Element(_k("Style"), id=priority)
    icon_style = ET.SubElement(style, _k("IconStyle"))
    if packed:
        _text(ET.SubElement(icon_style, _k("Icon")), _k("href"), f"files/{priority}.png")
    else:  # a lone KML file: the app's own pin, in the priority's colour
        _text(icon_style, _k("color"), _kml_colour(PRIORITY_COLOURS[priority]))
    _text(ET.SubElement(style, _k("LabelStyle")), _k("scale"), "0.8")
    return style


def _outline_style(priority: str) -> ET.Element:
    style = ET.Element(_k("Style"), id=f"{priority}-outline")
    line = ET.SubElement(style, _k("LineStyle"))
    _text(line, _k("color"), _kml_colour(PRIORITY_COLOURS[priority]))
    _text(line, _k("width"), "2")
    _text(ET.SubElement(style, _k("PolyStyle")), _k("fill"), "0")
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


def _run_title(targets: Sequence[Target]) -> str:
    missions = sorted({t.mission for t in targets})
    return f"Mission{'s' if len(missions) > 1 else ''} {', '.join(missions)}" if missions \
        else "poppyscan targets"


def _without_outline(w: Waypoint) -> Waypoint:
    return replace(w, outline=None)


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _g(tag: str) -> str:
    return f"{{{GPX_NS}}}{tag}"


def _k(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el
