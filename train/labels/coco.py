"""Read COCO object-detection JSON as georeferenced labels."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from poppyscan.tiles.errors import LabelError

from ._files import load_json, number
from .georef import ImageLocator, check_image_size, shapes_to_labels
from .labelset import LabelSet

__all__ = ["read_coco", "looks_like_coco"]


def looks_like_coco(data: object) -> bool:
    """Whether parsed JSON has the shape of a COCO file."""
    return isinstance(data, dict) and "images" in data and "annotations" in data


def read_coco(path: str | os.PathLike, *, images_dir: str | os.PathLike | None = None) -> LabelSet:
    """Labels of a COCO JSON file (``images``, ``annotations``, ``categories``).

    An annotation with a polygon ``segmentation`` becomes that polygon (each
    part a label); otherwise its ``bbox`` ``[x, y, w, h]`` (pixels from the
    top-left corner) becomes a box. RLE masks fall back to the bbox. Each image's
    declared ``width``/``height`` must match the image file.
    """
    path = Path(path)
    data = load_json(path)
    if not looks_like_coco(data):
        raise LabelError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    categories = {c.get("id"): str(c.get("name")) for c in data.get("categories") or []}
    images = {img.get("id"): img for img in data["images"]}
    by_image: dict[object, list[dict]] = defaultdict(list)
    for ann in data["annotations"]:
        if ann.get("image_id") not in images:
            raise LabelError(
                f"{path}: annotation {ann.get('id')} names unknown image_id {ann.get('image_id')!r}"
            )
        by_image[ann["image_id"]].append(ann)
    locator = ImageLocator(path, Path(images_dir) if images_dir is not None else None)
    sets = []
    for image_id, image in images.items():
        name = image.get("file_name")
        if not name:
            raise LabelError(f"{path}: image {image_id!r} has no file_name")
        geo = locator.locate(str(name))
        check_image_size(geo, image.get("width"), image.get("height"), label_file=path)
        sets.append(_image_labels(path, geo, by_image.get(image_id, []), categories))
    if not sets:
        raise LabelError(f"{path}: COCO file lists no images")
    return LabelSet.concat(sets, source=str(path))


def _image_labels(path: Path, geo, anns: list[dict], categories: dict) -> LabelSet:
    boxes, box_classes, rings, ring_classes = [], [], [], []
    for ann in anns:
        what = f"annotation {ann.get('id')}"
        if ann.get("category_id") not in categories:
            raise LabelError(
                f"{path}: {what} has category_id {ann.get('category_id')!r}, not in categories "
                f"({', '.join(f'{k}={v}' for k, v in categories.items()) or 'none'})"
            )
        name = categories[ann["category_id"]]
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and segmentation:
            for part in segmentation:
                ring = [number(v, path=path, what=f"{what} segmentation") for v in part]
                if len(ring) < 6 or len(ring) % 2:
                    raise LabelError(
                        f"{path}: {what} segmentation part has {len(ring)} values; need x,y pairs, at least 3"
                    )
                rings.append(np.reshape(ring, (-1, 2)))
                ring_classes.append(name)
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise LabelError(
                f"{path}: {what} has neither a polygon segmentation nor a bbox [x, y, w, h]"
            )
        x, y, w, h = (number(v, path=path, what=f"{what} bbox") for v in bbox)
        if w <= 0 or h <= 0:
            raise LabelError(f"{path}: {what} bbox has width {w} and height {h}; both must be > 0")
        boxes.append([x, y, x + w, y + h])
        box_classes.append(name)
    return shapes_to_labels(geo, boxes, box_classes, rings, ring_classes, source=str(path))
