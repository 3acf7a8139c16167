"""QGIS 3 project XML pieces: ``<Option>`` maps and the priority renderer of the package layers."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from poppyscan.detect.export._labels import CONF_BANDS
from poppyscan.field.selection import PRIORITIES

__all__ = ["categorized_renderer", "option_map"]

_COLOURS = {band: colour for _, band, colour in CONF_BANDS}  # high red, medium orange, low yellow


def option_map(value, name: str | None = None) -> ET.Element:
    """A QGIS ``<Option>`` element of a Python value (dict -> Map, list -> List, scalars)."""
    el = ET.Element("Option", **({"name": name} if name is not None else {}))
    if isinstance(value, dict):
        el.set("type", "Map")
        el.extend(option_map(v, k) for k, v in value.items())
    elif isinstance(value, list):
        el.set("type", "List")
        el.extend(option_map(v) for v in value)
    elif isinstance(value, bool):
        el.set("type", "bool")
        el.set("value", "true" if value else "false")
    elif isinstance(value, int):
        el.set("type", "int")
        el.set("value", str(value))
    elif isinstance(value, float):
        el.set("type", "double")
        el.set("value", repr(value))
    else:
        el.set("type", "QString")
        el.set("value", str(value))
    return el


def categorized_renderer(kind: str) -> ET.Element:
    """Categories on ``priority``: ``kind`` "marker" (points) or "fill" (outlines)."""
    renderer = ET.Element("renderer-v2", type="categorizedSymbol", attr="priority",
                          forceraster="0", symbollevels="0", enableorderby="0")
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, priority in enumerate(PRIORITIES):
        ET.SubElement(categories, "category", render="true", symbol=str(i), value=priority,
                      label=f"{priority.capitalize()} priority", type="string")
        symbols.append(_symbol(kind, str(i), _rgb(_COLOURS[priority])))
    return renderer


def _symbol(kind: str, name: str, rgb: str) -> ET.Element:
    symbol = ET.Element("symbol", type=kind, name=name, alpha="1", clip_to_extent="1",
                        force_rhr="0")
    if kind == "marker":
        layer_class = "SimpleMarker"
        props = {"name": "circle", "color": f"{rgb},255", "outline_color": "255,255,255,255",
                 "outline_style": "solid", "outline_width": "0.6", "outline_width_unit": "MM",
                 "size": "4.5", "size_unit": "MM"}
    else:
        layer_class = "SimpleFill"
        props = {"color": f"{rgb},50", "style": "solid", "outline_color": f"{rgb},255",
                 "outline_style": "solid", "outline_width": "0.7", "outline_width_unit": "MM"}
    layer = ET.SubElement(symbol, "layer", {"class": layer_class, "enabled": "1", "locked": "0",
                                            "pass": "0"})
    layer.append(option_map(props))
    return symbol


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    return ",".join(str(int(value[i:i + 2], 16)) for i in (0, 2, 4))
