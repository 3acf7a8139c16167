"""GPX 1.1 for handhelds and OsmAnd, Organic Maps, Locus: waypoints, and a route per crew.

Written with the standard library in the element order the GPX 1.1 schema
requires (``wpt``: time, name, cmt, desc, sym, type; then ``rte`` with
``rtept``). Names start with the target id, which is what ``field import``
reads back; descriptions hold no status word, so a word a crew adds is the
verdict.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from poppyscan.atomic import atomic_write_bytes
from poppyscan.field.selection import FieldTarget
from poppyscan.provenance import utc_now

__all__ = ["GPX_NS", "SYMBOLS", "target_description", "write_field_gpx"]

GPX_NS = "http://www.topografix.com/GPX/1/1"
SYMBOLS = {"high": "Flag, Red", "medium": "Flag, Blue", "low": "Flag, Green"}  # Garmin names


def target_description(t: FieldTarget) -> str:
    """Facts a crew reads at the waypoint, one a line (ASCII: GPS units mangle the rest)."""
    lines = [f"Target {t.target_id}, rank {t.rank}, {t.priority} priority",
             f"Confidence {round(t.conf * 100):d}%, area {t.area_m2:.0f} m2",
             f"Seen {t.n_sightings}x, last {t.last_seen[:10]}"]
    if t.crew:
        lines.append(f"{t.crew}, stop {t.visit_order}")
    if t.note:
        lines.append(t.note.capitalize())
    return "\n".join(lines)


def write_field_gpx(targets: Sequence[FieldTarget], path: str | os.PathLike, *,
                    title: str) -> Path:
    """Write one waypoint per target (rank order) and, with crews, one route per crew list."""
    ET.register_namespace("", GPX_NS)
    gpx = ET.Element(_q("gpx"), version="1.1", creator="poppyscan")
    meta = ET.SubElement(gpx, _q("metadata"))
    _text(meta, "name", title)
    _text(meta, "desc", "Suspected plots to verify; name = target id")
    _text(meta, "time", utc_now())
    for t in targets:
        wpt = ET.SubElement(gpx, _q("wpt"), lat=f"{t.lat:.7f}", lon=f"{t.lon:.7f}")
        _text(wpt, "name", t.target_id)
        _text(wpt, "cmt", f"rank {t.rank}, {t.priority}, {t.area_m2:.0f} m2")
        _text(wpt, "desc", target_description(t))
        _text(wpt, "sym", SYMBOLS[t.priority])
        _text(wpt, "type", f"target ({t.priority} priority)")
    for crew in sorted({t.crew for t in targets if t.crew}):
        rte = ET.SubElement(gpx, _q("rte"))
        _text(rte, "name", crew)
        for t in sorted((t for t in targets if t.crew == crew), key=lambda t: t.visit_order):
            pt = ET.SubElement(rte, _q("rtept"), lat=f"{t.lat:.7f}", lon=f"{t.lon:.7f}")
            _text(pt, "name", t.target_id)
            _text(pt, "sym", SYMBOLS[t.priority])
    ET.indent(gpx)
    return atomic_write_bytes(path, ET.tostring(gpx, encoding="utf-8", xml_declaration=True))


def _q(tag: str) -> str:
    return f"{{{GPX_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, _q(tag))
    el.text = text
    return el
