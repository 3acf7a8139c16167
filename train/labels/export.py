"""Write chips with pre-annotations for Label Studio and CVAT (Ultralytics YOLO layout).

Both writers copy each chip to a PNG with a world file (``.pgw``) and an
``.aux.xml`` (CRS), so the images the analysts label stay georeferenced and the
tools' exports read back through :func:`train.labels.read.read_labels`.
Boxes are clipped to the chip before writing.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import rasterio
import yaml

from poppyscan.atomic import atomic_write_text
from poppyscan.errors import ConfigError

from .chipboxes import ChipBoxes
from .png import write_georeferenced_png
from .yolo import xyxy_to_yolo, yolo_label_text

__all__ = [
    "EXPORT_FORMATS",
    "export_chips",
    "write_labelstudio_tasks",
    "write_labelstudio_config",
    "write_yolo_layout",
]

EXPORT_FORMATS = ("labelstudio", "yolo")
LS_TASKS_NAME = "tasks.json"
LS_CONFIG_NAME = "labeling_config.xml"
# Names of the Label Studio control tags: pre-annotations must use the same.
LS_BOX_TAG, LS_POLYGON_TAG, LS_IMAGE_TAG = "label", "polygon", "image"


def export_chips(
    chips: Sequence[ChipBoxes],
    out_dir: str | os.PathLike,
    *,
    format: str,
    class_names: Sequence[str],
    model_version: str = "poppyscan",
    image_url_prefix: str = "/data/local-files/?d=",
) -> Path:
    """Write ``chips`` for a labelling tool; returns the tasks JSON or ``data.yaml``.

    ``format``: one of :data:`EXPORT_FORMATS`. ``labelstudio`` writes
    ``out_dir/tasks.json``, ``labeling_config.xml`` and ``images/``;
    ``yolo`` writes the Ultralytics layout that CVAT imports.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"export format {format!r}: use one of {', '.join(EXPORT_FORMATS)}")
    out_dir = Path(out_dir)
    if format == "labelstudio":
        tasks = write_labelstudio_tasks(
            chips,
            out_dir / LS_TASKS_NAME,
            class_names=class_names,
            image_url_prefix=image_url_prefix,
            model_version=model_version,
        )
        write_labelstudio_config(out_dir / LS_CONFIG_NAME, class_names=class_names)
        return tasks
    return write_yolo_layout(chips, out_dir, class_names=class_names)


def write_labelstudio_tasks(
    chips: Sequence[ChipBoxes],
    out_json: str | os.PathLike,
    *,
    class_names: Sequence[str],
    image_url_prefix: str = "/data/local-files/?d=",
    document_root: str | os.PathLike | None = None,
    model_version: str = "poppyscan",
) -> Path:
    """Write Label Studio tasks with the boxes as ``predictions`` (pre-annotations).

    Images are written as georeferenced PNGs to ``images/`` beside ``out_json``
    and referenced as ``image_url_prefix`` + their path relative to
    ``document_root`` (default: the folder of ``out_json``; set Label Studio's
    ``LOCAL_FILES_DOCUMENT_ROOT`` to it). Coordinates are percent of the image;
    each region carries its score when the chip has ``scores``.
    """
    out_json = Path(out_json)
    chips = _validated(chips, class_names)
    root = Path(document_root) if document_root is not None else out_json.parent
    images_dir = out_json.parent / "images"
    tasks = []
    for chip in chips:
        png = write_georeferenced_png(chip.image_path, images_dir / f"{chip.image_path.stem}.png")
        try:
            rel = png.resolve().relative_to(root.resolve())
        except ValueError:
            raise ConfigError(
                f"{png}: not under document_root {root}; choose a root that holds the images"
            ) from None
        tasks.append(_task(chip, image_url_prefix + PurePosixPath(rel).as_posix(), model_version))
    return atomic_write_text(out_json, json.dumps(tasks, indent=1) + "\n")


def write_labelstudio_config(out_xml: str | os.PathLike, *, class_names: Sequence[str]) -> Path:
    """Write a Label Studio labelling config whose tag names match the tasks' predictions."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=LS_IMAGE_TAG, value="$image", zoom="true")
    for tag, name in (("RectangleLabels", LS_BOX_TAG), ("PolygonLabels", LS_POLYGON_TAG)):
        labels = ET.SubElement(view, tag, name=name, toName=LS_IMAGE_TAG)
        for class_name in class_names:
            ET.SubElement(labels, "Label", value=class_name)
    ET.indent(view)
    return atomic_write_text(out_xml, ET.tostring(view, encoding="unicode") + "\n")


def write_yolo_layout(
    chips: Sequence[ChipBoxes],
    out_dir: str | os.PathLike,
    *,
    class_names: Sequence[str],
    split: str = "train",
) -> Path:
    """Write the Ultralytics YOLO layout CVAT imports; returns ``out_dir/data.yaml``.

    ``data.yaml`` (names), ``<split>.txt`` (image list), ``images/<split>/*.png``
    with ``.pgw`` + ``.aux.xml``, ``labels/<split>/*.txt`` (``class cx cy w h``,
    normalised, 6 decimals).
    """
    if split not in ("train", "val", "test"):
        raise ConfigError(f"YOLO split {split!r}: use one of train, val, test")
    out_dir = Path(out_dir)
    chips = _validated(chips, class_names)
    index = {name: i for i, name in enumerate(class_names)}
    image_list = []
    for chip in chips:
        stem = chip.image_path.stem
        png = write_georeferenced_png(chip.image_path, out_dir / "images" / split / f"{stem}.png")
        width_px, height_px = _image_size(png)
        boxes = xyxy_to_yolo(_clipped(chip.boxes_px, width_px, height_px), width_px, height_px)
        text = yolo_label_text([index[name] for name in chip.classes], boxes)
        atomic_write_text(out_dir / "labels" / split / f"{stem}.txt", text)
        image_list.append(f"images/{split}/{png.name}")
    atomic_write_text(out_dir / f"{split}.txt", "".join(f"{p}\n" for p in image_list))
    data = {"path": "./", split: f"{split}.txt", "names": dict(enumerate(class_names))}
    return atomic_write_text(out_dir / "data.yaml", yaml.safe_dump(data, sort_keys=False))


def _validated(chips: Sequence[ChipBoxes], class_names: Sequence[str]) -> list[ChipBoxes]:
    """Chips as ChipBoxes with clipped (N, 4) boxes; ConfigError on any inconsistency."""
    if not class_names or len(set(class_names)) != len(class_names):
        raise ConfigError(f"class names {list(class_names)!r}: give at least one, without repeats")
    out, stems = [], {}
    for chip in chips:
        chip = ChipBoxes(*chip)
        path = Path(chip.image_path)
        if not path.is_file():
            raise ConfigError(f"{path}: chip image does not exist")
        if path.stem in stems:
            raise ConfigError(
                f"{path}: same file name as {stems[path.stem]}; chip names must be unique"
            )
        stems[path.stem] = path
        boxes = np.asarray(chip.boxes_px, dtype="float64").reshape(-1, 4)
        classes = [str(c) for c in chip.classes]
        unknown = sorted(set(classes) - set(class_names))
        if len(classes) != len(boxes) or unknown:
            raise ConfigError(
                f"{path}: {len(boxes)} boxes, {len(classes)} classes"
                + (f"; classes {unknown} not in class names {list(class_names)}" if unknown else "")
            )
        scores = (
            None if chip.scores is None else np.asarray(chip.scores, dtype="float64").reshape(-1)
        )
        if scores is not None and len(scores) != len(boxes):
            raise ConfigError(f"{path}: {len(boxes)} boxes but {len(scores)} scores")
        out.append(ChipBoxes(path, boxes, classes, scores))
    return out


def _image_size(path: Path) -> tuple[int, int]:
    with rasterio.open(path) as src:
        return src.width, src.height


def _clipped(boxes_px: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    return np.clip(boxes_px, 0, [width_px, height_px, width_px, height_px])


def _task(chip: ChipBoxes, image_url: str, model_version: str) -> dict:
    width_px, height_px = _image_size(chip.image_path)
    boxes = _clipped(chip.boxes_px, width_px, height_px)
    results = []
    for i, ((x0, y0, x1, y1), name) in enumerate(zip(boxes, chip.classes, strict=True)):
        region = {
            "id": f"r{i}",
            "type": "rectanglelabels",
            "from_name": LS_BOX_TAG,
            "to_name": LS_IMAGE_TAG,
            "original_width": width_px,
            "original_height": height_px,
            "image_rotation": 0,
            "value": {
                "x": 100 * x0 / width_px,
                "y": 100 * y0 / height_px,
                "width": 100 * (x1 - x0) / width_px,
                "height": 100 * (y1 - y0) / height_px,
                "rotation": 0,
                "rectanglelabels": [name],
            },
        }
        if chip.scores is not None:
            region["score"] = float(chip.scores[i])
        results.append(region)
    prediction: dict = {"model_version": model_version, "result": results}
    if chip.scores is not None and len(chip.scores):
        prediction["score"] = float(np.mean(chip.scores))
    return {"data": {"image": image_url, "chip": chip.image_path.name}, "predictions": [prediction]}
