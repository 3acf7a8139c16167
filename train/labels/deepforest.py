"""Read DeepForest-style CSV (``image_path,xmin,ymin,xmax,ymax,label``) as georeferenced labels."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from poppyscan.errors import LabelError

from ._files import class_name, number, positive_size
from .georef import ImageLocator, boxes_to_labels
from .labelset import LabelSet

__all__ = ["read_deepforest", "DEEPFOREST_COLUMNS", "looks_like_deepforest"]

DEEPFOREST_COLUMNS = ("image_path", "xmin", "ymin", "xmax", "ymax", "label")
MAX_ROWS = 1_000_000  # boxes in one CSV


def looks_like_deepforest(path: Path) -> bool:
    """Whether the CSV header names the DeepForest columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return set(DEEPFOREST_COLUMNS) <= {h.strip() for h in header}


def read_deepforest(
    path: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    default_class: str | None = None,
) -> LabelSet:
    """Labels of a DeepForest CSV: one row per box, in pixel units of its image.

    ``image_path`` is resolved in ``images_dir`` or the CSV's folder. Rows whose
    box is all zeros (DeepForest's marker for an image without objects) are
    skipped; other boxes need width and height > 0. An empty ``label`` gets
    ``default_class`` (default None: an empty label is a LabelError). Extra
    columns are ignored.
    """
    path = Path(path)
    rows = _rows(path)
    locator = ImageLocator(path, Path(images_dir) if images_dir is not None else None)
    by_image: dict[str, tuple[list, list]] = {}
    for lineno, row in rows:
        image = (row["image_path"] or "").strip()
        if not image:
            raise LabelError(f"{path}: line {lineno} has no image_path")
        boxes, classes = by_image.setdefault(image, ([], []))
        box = [
            number(row[k], path=path, what=f"line {lineno} {k}") for k in DEEPFOREST_COLUMNS[1:5]
        ]
        if not any(box):
            continue
        positive_size(box[2] - box[0], box[3] - box[1], path=path, what=f"line {lineno} box")
        boxes.append(box)
        classes.append(class_name(row["label"], default_class, path=path, what=f"line {lineno}"))
    if not by_image:
        raise LabelError(f"{path}: CSV has no rows")
    sets = [
        boxes_to_labels(
            locator.locate(image), np.array(boxes).reshape(-1, 4), classes, source=str(path)
        )
        for image, (boxes, classes) in by_image.items()
    ]
    return LabelSet.concat(sets, source=str(path))


def _rows(path: Path) -> list[tuple[int, dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = {h.strip() for h in reader.fieldnames or []}
            missing = [c for c in DEEPFOREST_COLUMNS if c not in fields]
            if missing:
                raise LabelError(
                    f"{path}: CSV lacks column(s) {', '.join(missing)}; "
                    f"DeepForest CSV needs {','.join(DEEPFOREST_COLUMNS)}"
                )
            reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
            rows = []
            for i, row in enumerate(reader, start=2):
                if len(rows) >= MAX_ROWS:  # streamed and capped: a label file is no data dump
                    raise LabelError(f"{path}: more than {MAX_ROWS:,} rows; split the file")
                rows.append((i, row))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LabelError(f"{path}: cannot read CSV ({err})") from err
