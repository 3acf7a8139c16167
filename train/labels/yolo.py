"""YOLO txt labels (one file per chip): read them as georeferenced labels; the box conversions
and the line format that every YOLO writer uses.

Lines are ``class cx cy w h`` (a sixth value, a confidence, is ignored) or
``class x1 y1 x2 y2 x3 y3 ...`` (segmentation polygons), all normalised to the
image size: a value outside 0..1 or a box without width or height is a
LabelError, as Ultralytics would refuse it too. Both the Ultralytics layout (``images/<split>/x.png`` beside
``labels/<split>/x.txt``, names in ``data.yaml``) and the darknet layout that
CVAT's "YOLO 1.1" uses (images beside the txt files, names in ``obj.names``)
are understood.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from poppyscan.errors import LabelError

from ._files import class_name, number, positive_size
from .georef import IMAGE_SUFFIXES, ImageLocator, shapes_to_labels
from .labelset import LabelSet

__all__ = [
    "read_yolo", "read_yolo_class_names", "xyxy_to_yolo", "yolo_label_files", "yolo_label_text",
    "yolo_to_xyxy",
]

# Files in a YOLO folder that are not per-image labels.
_NOT_LABELS = {"classes.txt", "train.txt", "val.txt", "valid.txt", "test.txt", "obj.data"}
_NAME_FILES = ("data.yaml", "dataset.yaml", "classes.txt", "obj.names")
_SUFFIXES = IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES)


def xyxy_to_yolo(boxes_px: np.ndarray, width_px: float, height_px: float) -> np.ndarray:
    """Pixel boxes (N, 4) ``xmin, ymin, xmax, ymax`` to YOLO's ``cx, cy, w, h`` in image fractions.

    >>> xyxy_to_yolo(np.array([[10, 20, 30, 60]]), 100, 200).tolist()
    [[0.2, 0.2, 0.2, 0.2]]
    """
    b = np.asarray(boxes_px, dtype="float64").reshape(-1, 4)
    size = np.array([width_px, height_px], dtype="float64")
    return np.hstack([(b[:, :2] + b[:, 2:]) / 2 / size, (b[:, 2:] - b[:, :2]) / size])


def yolo_to_xyxy(boxes: np.ndarray, width_px: float, height_px: float) -> np.ndarray:
    """YOLO boxes (N, 4) ``cx, cy, w, h`` in image fractions to pixel ``xmin, ymin, xmax, ymax``.

    >>> yolo_to_xyxy(np.array([[0.2, 0.2, 0.2, 0.2]]), 100, 200).tolist()
    [[10.0, 20.0, 30.0, 60.0]]
    """
    b = np.asarray(boxes, dtype="float64").reshape(-1, 4)
    size = np.array([width_px, height_px], dtype="float64")
    centre, half = b[:, :2] * size, b[:, 2:] * size / 2
    return np.hstack([centre - half, centre + half])


def yolo_label_text(class_ids: Sequence[int], boxes: np.ndarray) -> str:
    """A YOLO label file: one ``class cx cy w h`` line per box, 6 decimals.

    >>> yolo_label_text([0], np.array([[0.5, 0.25, 0.1, 0.2]]))
    '0 0.500000 0.250000 0.100000 0.200000\\n'
    """
    rows = np.asarray(boxes, dtype="float64").reshape(-1, 4).tolist()
    return "".join(
        f"{int(c)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"
        for c, (cx, cy, w, h) in zip(class_ids, rows, strict=True)
    )


def read_yolo(
    path: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
) -> LabelSet:
    """Labels of a YOLO txt file, a folder of them, or a dataset's ``data.yaml``.

    ``class_names``: names by class index; default read from ``data.yaml``,
    ``dataset.yaml``, ``classes.txt`` or ``obj.names`` in the folder or up to
    three folders above. Each txt file's image is found by stem: in
    ``images_dir``, in the Ultralytics ``images/`` twin of its ``labels/``
    folder, or beside it.
    """
    path = Path(path)
    if not path.exists():
        raise LabelError(f"{path}: no such YOLO label file or folder")
    names = list(class_names) if class_names else read_yolo_class_names(path)
    root = path.parent if path.suffix.lower() in (".yaml", ".yml") else path
    locator = ImageLocator(root, Path(images_dir) if images_dir is not None else None)
    files = [path] if path.is_file() and path.suffix.lower() == ".txt" else yolo_label_files(root)
    if not files:
        raise LabelError(f"{path}: no YOLO label files (*.txt) found")
    sets = [_read_one(txt, names, locator, images_dir) for txt in files]
    return LabelSet.concat(sets, source=str(path))


def yolo_label_files(root: Path) -> list[Path]:
    """Per-image label files under ``root`` (its ``labels/`` folder when there is one)."""
    base = root / "labels" if (root / "labels").is_dir() else root
    return sorted(p for p in base.rglob("*.txt") if p.name not in _NOT_LABELS)


def read_yolo_class_names(path: Path) -> list[str]:
    """Class names by index from the first names file found at or above ``path``."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        names = _names_from_yaml(path)
        if names is not None:
            return names
    start = path if path.is_dir() else path.parent
    for folder in [start, *list(start.parents)[:3]]:
        for file_name in _NAME_FILES:
            candidate = folder / file_name
            if not candidate.is_file():
                continue
            if candidate.suffix == ".yaml":
                names = _names_from_yaml(candidate)
            else:
                names = [line.strip() for line in _read_text(candidate).splitlines() if line.strip()]
            if names:
                return names
    raise LabelError(
        f"{path}: no class names for the YOLO class indices (no data.yaml, classes.txt or "
        "obj.names found); pass class_names= / --class-names"
    )


def _names_from_yaml(path: Path) -> list[str] | None:
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as err:
        raise LabelError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        by_index = {_index(k): v for k, v in names.items()}
        if None in by_index:
            raise LabelError(f"{path}: 'names' keys must be class indices 0, 1, ...")
        if sorted(by_index) != list(range(len(by_index))):
            raise LabelError(f"{path}: 'names' indices must run 0..{len(by_index) - 1}")
        names = [by_index[i] for i in range(len(by_index))]
    if not isinstance(names, list):
        return None
    return [class_name(n, None, path=path, what=f"names[{i}]") for i, n in enumerate(names)]


def _index(key: object) -> int | None:
    if isinstance(key, str) and key.strip().isdigit():
        return int(key)
    return key if isinstance(key, int) and not isinstance(key, bool) else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LabelError(f"{path}: cannot read ({err})") from None


def _image_dirs(txt: Path, images_dir: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if images_dir is not None:
        dirs.append(Path(images_dir) / txt.parent.name)  # images_dir/<split>/
    parts = txt.parent.parts
    if "labels" in parts:
        # Ultralytics pairs .../labels/<split>/x.txt with .../images/<split>/x.*
        i = len(parts) - 1 - parts[::-1].index("labels")
        dirs.append(Path(*parts[:i], "images", *parts[i + 1 :]))
    dirs.append(txt.parent)
    return dirs


def _read_one(
    txt: Path, names: list[str], locator: ImageLocator, images_dir: str | os.PathLike | None
) -> LabelSet:
    boxes, box_classes, rings, ring_classes = _parse(txt, names)
    geo = locator.locate(txt.stem, extra_dirs=_image_dirs(txt, images_dir), suffixes=_SUFFIXES)
    size = np.array([geo.width_px, geo.height_px], dtype="float64")
    box_px = yolo_to_xyxy(np.array(boxes), geo.width_px, geo.height_px)
    rings_px = [np.asarray(r, dtype="float64").reshape(-1, 2) * size for r in rings]
    return shapes_to_labels(geo, box_px, box_classes, rings_px, ring_classes, source=str(txt))


def _parse(txt: Path, names: list[str]) -> tuple[list, list, list, list]:
    boxes, box_classes, rings, ring_classes = [], [], [], []
    lines = _read_text(txt).splitlines()
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {lineno}"
        values = [number(v, path=txt, what=f"{where} value") for v in fields]
        index = values[0]
        if index != int(index) or not 0 <= index < len(names):
            raise LabelError(
                f"{txt}: {where}: class index {fields[0]} is not one of 0..{len(names) - 1} "
                f"({', '.join(names)}); fix the line or the class names"
            )
        name = names[int(index)]
        coords = values[1:]
        if len(coords) in (4, 5):  # cx cy w h [confidence]
            coords = coords[:4]
            positive_size(coords[2], coords[3], path=txt, what=f"{where} box")
            boxes.append(coords)
            box_classes.append(name)
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            rings.append(coords)
            ring_classes.append(name)
        else:
            raise LabelError(
                f"{txt}: {where} has {len(fields)} values; expected 'class cx cy w h' "
                "or 'class x1 y1 x2 y2 x3 y3 ...'"
            )
        if not all(0 <= v <= 1 for v in coords):
            raise LabelError(
                f"{txt}: {where}: coordinates must be fractions of the image size, 0..1 "
                f"(found {max(coords, key=lambda v: abs(v - 0.5)):g}); pixel values are not YOLO"
            )
    return boxes, box_classes, rings, ring_classes
