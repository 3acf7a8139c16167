"""GPX 1.1 checks for tests: the schema's element order and value ranges, and where an XSD is.

No GPX 1.1 XSD ships with the packages this project installs, so the
structure check encodes the parts of http://www.topografix.com/GPX/1/1/gpx.xsd
poppyscan writes (gpxType, metadataType, wptType, rteType); when an XSD is
found (``POPPYSCAN_GPX_XSD`` or a system copy) the tests also run xmllint on it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from xml.etree import ElementTree as ET

NS = "{http://www.topografix.com/GPX/1/1}"
# xsd:sequence of each complex type (elements in this order, each optional unless noted).
GPX_SEQ = ("metadata", "wpt", "rte", "trk", "extensions")
METADATA_SEQ = ("name", "desc", "author", "copyright", "link", "time", "keywords", "bounds",
                "extensions")
WPT_SEQ = ("ele", "time", "magvar", "geoidheight", "name", "cmt", "desc", "src", "link", "sym",
           "type", "fix", "sat", "hdop", "vdop", "pdop", "ageofdgpsdata", "dgpsid", "extensions")
RTE_SEQ = ("name", "cmt", "desc", "src", "link", "number", "type", "extensions", "rtept")
REPEATABLE = {"wpt", "rte", "trk", "link", "rtept"}
_XSD_PLACES = ("/usr/share/xml/gpx/gpx.xsd", "/usr/share/xml/schema/gpx/gpx.xsd")


def find_gpx_xsd() -> Path | None:
    """A GPX 1.1 XSD on this machine, or None."""
    for place in (os.environ.get("POPPYSCAN_GPX_XSD"), *_XSD_PLACES):
        if place and Path(place).is_file():
            return Path(place)
    return None


def check_gpx_structure(path: str | os.PathLike) -> None:
    """AssertionError naming the first element that breaks GPX 1.1's order or ranges."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{NS}gpx", f"root is {root.tag}, not gpx in the GPX 1.1 namespace"
    assert root.get("version") == "1.1" and root.get("creator"), "version 1.1 and creator needed"
    _check_sequence(root, GPX_SEQ, "gpx")
    for child in root:
        name = child.tag.removeprefix(NS)
        if name == "metadata":
            _check_sequence(child, METADATA_SEQ, "metadata")
            _check_times(child)
        elif name == "wpt":
            _check_point(child, "wpt")
        elif name == "rte":
            _check_sequence(child, RTE_SEQ, "rte")
            for point in child.findall(f"{NS}rtept"):
                _check_point(point, "rtept")


def _check_point(el: ET.Element, what: str) -> None:
    lat, lon = float(el.get("lat")), float(el.get("lon"))
    assert -90 <= lat <= 90 and -180 <= lon < 180, f"{what} lat/lon out of range: {lat}, {lon}"
    _check_sequence(el, WPT_SEQ, what)
    _check_times(el)


def _check_sequence(el: ET.Element, order: tuple[str, ...], what: str) -> None:
    last, seen = -1, set()
    for child in el:
        assert child.tag.startswith(NS), f"{what}: {child.tag} is outside the GPX namespace"
        name = child.tag.removeprefix(NS)
        assert name in order, f"{what}: element {name} is not allowed"
        index = order.index(name)
        assert index >= last, f"{what}: {name} comes after {order[last]}, breaking the sequence"
        assert name in REPEATABLE or name not in seen, f"{what}: {name} appears twice"
        last, seen = index, seen | {name}


def _check_times(el: ET.Element) -> None:
    for time in el.findall(f"{NS}time"):
        dt.datetime.fromisoformat(time.text.replace("Z", "+00:00"))  # xsd:dateTime
