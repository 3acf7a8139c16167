"""Read COCO object-detection JSON as georeferenced labels."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from poppyscan.errors import LabelError

from ._files import expect, identifier, load_json, number, positive_size
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
    declared ``width``/``height`` must match the image file. Boxes and polygons
    without area are errors, as is any value of the wrong type.
    """
    path = Path(path)
    data = load_json(path)
    if not looks_like_coco(data):
        raise LabelError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    categories = _by_id(path, data.get("categories") or [], "categories")
    names = {cid: _category_name(path, c, cid) for cid, c in categories.items()}
    images = _by_id(path, data["images"], "images")
    by_image: dict[object, list[tuple[str, dict]]] = defaultdict(list)
    annotations = expect(data["annotations"], list, path=path, what="'annotations'")
    for i, ann in enumerate(annotations):
        ann = expect(ann, dict, path=path, what=f"annotations[{i}]")
        ann_id = ann.get("id")
        what = f"annotation {ann_id}" if isinstance(ann_id, (int, str)) else f"annotations[{i}]"
        image_id = identifier(ann.get("image_id"), path=path, what=f"{what}.image_id")
        if image_id not in images:
            raise LabelError(f"{path}: {what} names unknown image_id {image_id!r}")
        by_image[image_id].append((what, ann))
    locator = ImageLocator(path, Path(images_dir) if images_dir is not None else None)
    sets = []
    for image_id, image in images.items():
        name = image.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise LabelError(f"{path}: image {image_id!r} has no file_name")
        geo = locator.locate(name)
        check_image_size(geo, image.get("width"), image.get("height"), label_file=path)
        sets.append(_image_labels(path, geo, by_image.get(image_id, []), names))
    if not sets:
        raise LabelError(f"{path}: COCO file lists no images")
    return LabelSet.concat(sets, source=str(path))


def _by_id(path: Path, entries: object, key: str) -> dict[object, dict]:
    """COCO ``images`` or ``categories`` by their ``id`` (each id once)."""
    out: dict[object, dict] = {}
    for i, entry in enumerate(expect(entries, list, path=path, what=f"{key!r}")):
        entry = expect(entry, dict, path=path, what=f"{key}[{i}]")
        entry_id = identifier(entry.get("id"), path=path, what=f"{key}[{i}].id")
        if entry_id in out:
            raise LabelError(f"{path}: {key}[{i}] repeats id {entry_id!r}")
        out[entry_id] = entry
    return out


def _category_name(path: Path, category: dict, category_id: object) -> str:
    name = category.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LabelError(f"{path}: category {category_id!r} has no name")
    return name.strip()


def _image_labels(path: Path, geo, anns: list[tuple[str, dict]], names: dict) -> LabelSet:
    boxes, box_classes, rings, ring_classes = [], [], [], []
    for what, ann in anns:
        category_id = ann.get("category_id")
        if isinstance(category_id, bool) or not isinstance(category_id, (int, str)) \
                or category_id not in names:
            raise LabelError(
                f"{path}: {what} has category_id {category_id!r}, not in categories "
                f"({', '.join(f'{k}={v}' for k, v in names.items()) or 'none'})"
            )
        name = names[category_id]
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and segmentation:
            for j, part in enumerate(segmentation):
                part = expect(part, list, path=path, what=f"{what}.segmentation[{j}]")
                ring = [number(v, path=path, what=f"{what}.segmentation[{j}]") for v in part]
                if len(ring) < 6 or len(ring) % 2:
                    raise LabelError(
                        f"{path}: {what} segmentation part has {len(ring)} values; need x,y pairs, at least 3"
                    )
                rings.append(np.reshape(ring, (-1, 2)))
                ring_classes.append(name)
            continue
        if segmentation not in (None, []) and not isinstance(segmentation, dict):  # dict: RLE
            raise LabelError(f"{path}: {what}.segmentation is neither polygons nor an RLE mask")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise LabelError(
                f"{path}: {what} has neither a polygon segmentation nor a bbox [x, y, w, h]"
            )
        x, y, w, h = (number(v, path=path, what=f"{what}.bbox") for v in bbox)
        positive_size(w, h, path=path, what=f"{what}.bbox")
        boxes.append([x, y, x + w, y + h])
        box_classes.append(name)
    return shapes_to_labels(geo, boxes, box_classes, rings, ring_classes, source=str(path))
