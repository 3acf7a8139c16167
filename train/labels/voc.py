"""Read Pascal VOC XML (one file per image) as georeferenced labels."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from poppyscan.errors import ConfigError, LabelError

from ._files import number
from .georef import ImageLocator, boxes_to_labels, check_image_size
from .labelset import LabelSet

__all__ = ["read_voc", "VOC_CONVENTIONS"]

# "corner": values are pixel-corner coordinates, as CVAT, Label Studio and LabelImg
# write them. "one_based": the VOC devkit's inclusive 1-based pixel indices.
VOC_CONVENTIONS = ("corner", "one_based")


def read_voc(
    path: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    convention: str = "corner",
) -> LabelSet:
    """Labels of a Pascal VOC XML file or a folder of them.

    ``convention`` (default ``"corner"``): how ``xmin..ymax`` count pixels, one
    of :data:`VOC_CONVENTIONS`. Images are found by ``<filename>`` in
    ``images_dir``, beside the XML, or in a sibling ``JPEGImages/`` folder.
    """
    if convention not in VOC_CONVENTIONS:
        raise ConfigError(f"VOC convention {convention!r}: use one of {', '.join(VOC_CONVENTIONS)}")
    path = Path(path)
    if not path.exists():
        raise LabelError(f"{path}: no such VOC label file or folder")
    files = sorted(path.rglob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise LabelError(f"{path}: no Pascal VOC files (*.xml) found")
    locator = ImageLocator(path, Path(images_dir) if images_dir is not None else None)
    sets = [_read_one(xml, locator, convention) for xml in files]
    return LabelSet.concat(sets, source=str(path))


def _parse_xml(path: Path) -> ET.Element:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LabelError(f"{path}: cannot read VOC file ({err})") from err
    # Analyst files never need a DTD; refusing one rules out entity tricks.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise LabelError(f"{path}: VOC file has a DOCTYPE/ENTITY declaration; remove it")
    try:
        return ET.fromstring(text)
    except ET.ParseError as err:
        raise LabelError(f"{path}: not valid XML ({err})") from err


def _read_one(xml: Path, locator: ImageLocator, convention: str) -> LabelSet:
    root = _parse_xml(xml)
    if root.tag != "annotation":
        raise LabelError(
            f"{xml}: not a Pascal VOC file (root element <{root.tag}>, expected <annotation>)"
        )
    name = (root.findtext("filename") or "").strip() or Path(
        (root.findtext("path") or "").strip()
    ).name
    if not name:
        raise LabelError(f"{xml}: no <filename> naming the image")
    geo = locator.locate(name, extra_dirs=[xml.parent, xml.parent.parent / "JPEGImages"])
    size = root.find("size")
    if size is not None and size.findtext("width") and size.findtext("height"):
        width = number(size.findtext("width"), path=xml, what="size/width")
        height = number(size.findtext("height"), path=xml, what="size/height")
        check_image_size(geo, width, height, label_file=xml)
    boxes, classes = [], []
    for i, obj in enumerate(root.iter("object")):
        box = obj.find("bndbox")
        label = (obj.findtext("name") or "").strip()
        if box is None or not label:
            raise LabelError(f"{xml}: object {i} needs a <name> and a <bndbox>")
        values = [
            number(box.findtext(tag), path=xml, what=f"object {i} {tag}")
            for tag in ("xmin", "ymin", "xmax", "ymax")
        ]
        if convention == "one_based":
            values[0] -= 1  # inclusive 1-based index -> corner of that pixel
            values[1] -= 1
        if values[2] <= values[0] or values[3] <= values[1]:
            raise LabelError(
                f"{xml}: object {i} bndbox is empty or inverted (xmax <= xmin or ymax <= ymin)"
            )
        boxes.append(values)
        classes.append(label)
    return boxes_to_labels(geo, np.array(boxes).reshape(-1, 4), classes, source=str(xml))
