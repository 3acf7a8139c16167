"""Chip images for training: PNG (lossless, default) or JPEG, still georeferenced.

Ultralytics reads images with OpenCV, so chips are written with OpenCV (BGR
order). A world file (``.pgw``/``.jgw``, the transform) and an ``.aux.xml``
(the CRS) beside each image let GDAL, QGIS and :func:`train.labels.read_labels`
place it on the map; Ultralytics ignores both.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
from affine import dumpsw

from poppyscan.atomic import atomic_path, atomic_write_text
from poppyscan.errors import ConfigError
from poppyscan.tiles.chip import Chip
from poppyscan.train.dataset_options import IMAGE_FORMATS

__all__ = ["IMAGE_FORMATS", "image_suffix", "write_chip_image"]



def image_suffix(image_format: str) -> str:
    """``.png`` or ``.jpg``; ConfigError listing the formats otherwise."""
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(
            f"image_format={image_format!r}: use one of {', '.join(IMAGE_FORMATS)}"
        )
    return IMAGE_FORMATS[image_format][0]


def write_chip_image(
    chip: Chip, path: str | os.PathLike, *, image_format: str, jpeg_quality: int
) -> Path:
    """Write ``chip.pixels`` to ``path`` with its world file and ``.aux.xml``; return the path."""
    suffix = image_suffix(image_format)
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ConfigError(f"{path}: a {image_format} chip needs the suffix {suffix}")
    world_suffix = IMAGE_FORMATS[image_format][1]
    # Sidecars first: an image on disk is always georeferenced.
    atomic_write_text(path.with_suffix(world_suffix), dumpsw(chip.transform) + "\n")
    atomic_write_text(path.with_name(path.name + ".aux.xml"), _pam_xml(chip.crs.to_wkt()))
    bgr = cv2.cvtColor(chip.pixels, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpg" else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr, params):
            raise OSError(f"{path}: OpenCV could not write the chip image")
    return path


def _pam_xml(wkt: str) -> str:
    """GDAL's PAM sidecar holding only the CRS (the transform is in the world file)."""
    root = ET.Element("PAMDataset")
    srs = ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2")
    srs.text = wkt
    return ET.tostring(root, encoding="unicode") + "\n"
