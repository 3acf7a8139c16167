"""Pixel boxes per chip: what the labelling-tool writers take as pre-annotations.

A source of pre-annotations is any function that returns ``list[ChipBoxes]``:
:func:`boxes_from_labels` clips an existing label file to each chip; a model
predictor returns the same type, with ``scores``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import shapely

from poppyscan.errors import ConfigError
from poppyscan.tiles.geometry import pixel_box_to_polygon, polygon_to_pixel_box

from .georef import read_georef
from .labelset import LabelSet

__all__ = ["ChipBoxes", "CHIP_SUFFIXES", "list_chips", "boxes_from_labels"]

CHIP_SUFFIXES = (".tif", ".tiff")


class ChipBoxes(NamedTuple):
    """Boxes on one georeferenced chip, in its pixels (``xmin, ymin, xmax, ymax``)."""

    image_path: Path
    boxes_px: np.ndarray
    classes: list[str]
    scores: np.ndarray | None = None


def list_chips(chips_dir: str | os.PathLike) -> list[Path]:
    """GeoTIFF chips under ``chips_dir`` (recursively), sorted by path."""
    chips_dir = Path(chips_dir)
    if not chips_dir.is_dir():
        raise ConfigError(f"{chips_dir}: chips folder does not exist")
    chips = sorted(
        p for p in chips_dir.rglob("*") if p.is_file() and p.suffix.lower() in CHIP_SUFFIXES
    )
    if not chips:
        raise ConfigError(f"{chips_dir}: no GeoTIFF chips ({', '.join(CHIP_SUFFIXES)}) found")
    return chips


def boxes_from_labels(
    labels: LabelSet, chip_paths: Sequence[str | os.PathLike], *, min_box_px: float = 1.0
) -> list[ChipBoxes]:
    """Clip ``labels`` to each chip and return their enclosing pixel boxes.

    A label crossing the chip edge keeps only its part inside the chip; boxes
    narrower or shorter than ``min_box_px`` pixels (default 1) are dropped.
    Labels are reprojected to each chip's CRS.
    """
    if min_box_px < 0:
        raise ConfigError(f"min_box_px {min_box_px}: must be >= 0 pixels")
    by_crs: dict[str, tuple[LabelSet, shapely.STRtree]] = {}
    out = []
    for chip in chip_paths:
        geo = read_georef(Path(chip), label_file=labels.source)
        key = geo.crs.to_wkt()
        if key not in by_crs:
            local = labels.to_crs(geo.crs)
            by_crs[key] = (local, shapely.STRtree(local.geometries))
        local, tree = by_crs[key]
        footprint = pixel_box_to_polygon(geo.transform, 0, 0, geo.width_px, geo.height_px)
        boxes, classes = [], []
        for index in sorted(tree.query(footprint, predicate="intersects")):
            inside = shapely.intersection(local.geometries[index], footprint)
            if inside.is_empty or inside.area <= 0:
                continue
            x0, y0, x1, y1 = polygon_to_pixel_box(geo.transform, inside)
            x0, x1 = np.clip([x0, x1], 0, geo.width_px)
            y0, y1 = np.clip([y0, y1], 0, geo.height_px)
            if x1 - x0 < min_box_px or y1 - y0 < min_box_px:
                continue
            boxes.append([x0, y0, x1, y1])
            classes.append(local.classes[index])
        out.append(ChipBoxes(Path(chip), np.array(boxes, dtype="float64").reshape(-1, 4), classes))
    return out
