"""Label polygons clipped to a chip and turned into YOLO boxes, slivers dropped.

A label is clipped to the part of the chip that holds imagery (footprint minus
collar and padding). The clipped part is kept when it is at least
``min_visible_frac`` of the label, or, for a label larger than the chip's
imagery, of that imagery; smaller parts are *slivers*: a plot's edge that the
model cannot recognise, so it is not labelled. Boxes are the clipped part's
pixel bounds, clamped to the chip and checked, so no chip can carry a box
outside ``[0, 1]`` or of zero size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import polygon_to_pixel_box
from poppyscan.train.labels.yolo import xyxy_to_yolo

__all__ = ["ChipLabels", "chip_labels"]

# A box narrower or shorter than this many chip pixels is a sliver too.
MIN_BOX_PX = 1.0


@dataclass
class ChipLabels:
    """The labels of one chip: YOLO rows ``class cx cy w h`` and what was dropped."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    label_ids: list[int] = field(default_factory=list)  # indexes into the label set, kept
    slivers: int = 0  # labels touching the chip whose visible part was too small
    touched: int = 0  # labels whose polygon intersects the chip footprint at all

    @property
    def positive(self) -> bool:
        return len(self.boxes) > 0


def chip_labels(
    chip: Chip,
    geometries: np.ndarray,
    class_ids: np.ndarray,
    tree: shapely.STRtree,
    *,
    min_visible_frac: float,
) -> ChipLabels:
    """Clip the labels (in the chip's CRS, indexed by ``tree``) to ``chip``; see the module doc."""
    hits = np.sort(tree.query(chip.polygon, predicate="intersects"))
    out = ChipLabels(touched=len(hits))
    if not len(hits):
        return out
    imagery = chip.valid_area()
    imagery_m2 = imagery.area
    size = chip.size_px
    rows, kept = [], []
    for index in hits.tolist():
        label = geometries[index]
        part = shapely.intersection(label, imagery)
        visible = part.area / max(min(label.area, imagery_m2), 1e-12) if not part.is_empty else 0.0
        box = _pixel_box(chip, part, size) if visible >= min_visible_frac else None
        if box is None:
            out.slivers += 1
            continue
        rows.append([class_ids[index], *box])
        kept.append(index)
    if rows:
        out.boxes = np.asarray(rows, dtype="float64")
        _check(out.boxes, chip)
    out.label_ids = kept
    return out


def _pixel_box(chip: Chip, part, size: int) -> list[float] | None:
    """Normalised ``cx, cy, w, h`` of ``part``'s pixel bounds clamped to the chip, or None."""
    x0, y0, x1, y1 = np.clip(polygon_to_pixel_box(chip.transform, part), 0, size)
    if x1 - x0 < MIN_BOX_PX or y1 - y0 < MIN_BOX_PX:
        return None
    return xyxy_to_yolo(np.array([x0, y0, x1, y1]), size, size)[0].tolist()


def _check(boxes: np.ndarray, chip: Chip) -> None:
    """Refuse to write a box Ultralytics would reject or misplace (a bug, not bad input)."""
    cx, cy, w, h = boxes[:, 1:].T
    ok = (
        np.isfinite(boxes).all()
        and (w > 0).all()
        and (h > 0).all()
        and (cx - w / 2 >= -1e-9).all()
        and (cx + w / 2 <= 1 + 1e-9).all()
        and (cy - h / 2 >= -1e-9).all()
        and (cy + h / 2 <= 1 + 1e-9).all()
    )
    if not ok:
        raise AssertionError(f"chip {chip.key}: label box outside [0, 1]: {boxes.tolist()}")

