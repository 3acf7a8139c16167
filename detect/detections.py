"""Detections in map space: chip pixel boxes mapped through the chip's transform."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from pyproj import CRS
from shapely.geometry import Polygon

from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import pixel_boxes_to_polygons, reproject_geometry

__all__ = ["Detection", "detections_from_chip", "to_crs"]

# A box must lie at least half on valid pixels; boxes mostly on the collar are dropped.
DEFAULT_MIN_BOX_VALID_FRAC = 0.5
# A box within this many pixels of a chip edge may be a fragment of a plot cut by that edge.
EDGE_PX = 2.0


@dataclass(frozen=True)
class Detection:
    """One model box in map coordinates."""

    polygon: Polygon  # in the run's CRS
    conf: float
    cls: int
    source: str
    chip: tuple[int, int]  # (row, col) in the source's grid
    chip_polygon: Polygon  # the chip's footprint, same CRS
    cut: bool  # touches a chip edge: the plot may continue into a neighbour

    @property
    def chip_key(self) -> tuple[str, int, int]:
        return self.source, *self.chip


def detections_from_chip(
    chip: Chip, boxes: np.ndarray, *, min_box_valid_frac: float = DEFAULT_MIN_BOX_VALID_FRAC
) -> tuple[list[Detection], int]:
    """Map a chip's boxes (N, 6: xyxy, conf, cls) to detections; also return how many were collar."""
    boxes = np.asarray(boxes, dtype="float64").reshape(-1, 6)
    if len(boxes) == 0:
        return [], 0
    valid = chip.valid_fraction_in(boxes[:, :4]) >= min_box_valid_frac
    kept = boxes[valid]
    polygons = pixel_boxes_to_polygons(chip.transform, kept[:, :4])
    size = chip.size_px
    cut = (kept[:, :2].min(axis=1) <= EDGE_PX) | (kept[:, 2:4].max(axis=1) >= size - EDGE_PX)
    footprint = chip.polygon
    detections = [
        Detection(
            poly, float(b[4]), int(b[5]), chip.source, (chip.row, chip.col), footprint, bool(c)
        )
        for poly, b, c in zip(polygons, kept, cut, strict=True)
    ]
    return detections, int((~valid).sum())


def to_crs(detections: list[Detection], src_crs, dst_crs) -> list[Detection]:
    """Reproject detections (from one raster) into the run's CRS."""
    if not detections or CRS.from_user_input(src_crs) == CRS.from_user_input(dst_crs):
        return detections
    return [
        replace(d, polygon=reproject_geometry(d.polygon, src_crs, dst_crs),
                chip_polygon=reproject_geometry(d.chip_polygon, src_crs, dst_crs))
        for d in detections
    ]
