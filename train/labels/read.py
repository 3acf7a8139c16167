"""One entry point for every label format: :func:`read_labels`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from poppyscan.errors import ConfigError, LabelError
from poppyscan.train.dataset_options import LABEL_FORMATS  # its one home, light for --help

from ._files import load_json
from .coco import looks_like_coco, read_coco
from .deepforest import looks_like_deepforest, read_deepforest
from .labelset import LabelSet
from .labelstudio import looks_like_labelstudio, read_labelstudio
from .ogr import read_ogr
from .voc import read_voc
from .yolo import read_yolo

__all__ = ["read_labels", "detect_format", "LABEL_FORMATS"]

# Suffixes OGR reads that no pixel format uses.
_OGR_SUFFIXES = {".geojson", ".gpkg", ".shp", ".kml", ".gml", ".fgb", ".gpx", ".sqlite", ".parquet"}


def read_labels(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    images_dir: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
    class_field: str | None = "label",
    default_class: str | None = None,
    layer: str | int | None = None,
    labelstudio_kind: str = "annotations",
) -> LabelSet:
    """Read labels in any supported format as georeferenced polygons.

    ``format`` (default ``"auto"``): one of :data:`LABEL_FORMATS`; ``"auto"``
    picks it from the suffix and content (see :func:`detect_format`).
    ``images_dir``: where pixel formats find their images (default: beside the
    label file). ``class_names``: class names by index, for YOLO only.
    ``class_field``, ``layer``: for vector files (``"ogr"``). ``default_class``
    (default None): class of labels whose file gives none (vector files without
    the class field, Label Studio regions and DeepForest rows without a label);
    without it such labels are a LabelError, never silently one class.
    ``labelstudio_kind``: ``"annotations"`` (the labellers') or ``"predictions"``
    (pre-annotations) of a Label Studio export.
    """
    if format not in LABEL_FORMATS:
        raise ConfigError(f"label format {format!r}: use one of {', '.join(LABEL_FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise LabelError(f"{path}: no such label file or folder")
    if format == "auto":
        format = detect_format(path)
    if format == "ogr":
        return read_ogr(path, layer=layer, class_field=class_field, default_class=default_class)
    if format == "yolo":
        return read_yolo(path, images_dir=images_dir, class_names=class_names)
    if format == "coco":
        return read_coco(path, images_dir=images_dir)
    if format == "voc":
        return read_voc(path, images_dir=images_dir)
    if format == "labelstudio":
        return read_labelstudio(path, images_dir=images_dir, default_class=default_class,
                                kind=labelstudio_kind)
    return read_deepforest(path, images_dir=images_dir, default_class=default_class)


def detect_format(path: str | os.PathLike) -> str:
    """The label format of ``path`` judged from its suffix and, for JSON/CSV, its content."""
    path = Path(path)
    if path.is_dir():
        return _folder_format(path)
    suffix = path.suffix.lower()
    if suffix in (".txt", ".yaml", ".yml"):
        return "yolo"
    if suffix == ".xml":
        return "voc"
    if suffix == ".csv":
        if looks_like_deepforest(path):
            return "deepforest"
        raise LabelError(
            f"{path}: CSV without the DeepForest columns image_path,xmin,ymin,xmax,ymax,label"
        )
    if suffix == ".json":
        return _json_format(path)
    if suffix in _OGR_SUFFIXES:
        return "ogr"
    # Anything else: let OGR try (it reads dozens of vector formats).
    return "ogr"


def _json_format(path: Path) -> str:
    data = load_json(path)
    if looks_like_coco(data):
        return "coco"
    if looks_like_labelstudio(data):
        return "labelstudio"
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return "ogr"
    raise LabelError(
        f"{path}: JSON is neither COCO, a Label Studio export nor GeoJSON "
        f"(top level: {json.dumps(sorted(data)[:5]) if isinstance(data, dict) else type(data).__name__}); "
        "pass format= / --format"
    )


def _folder_format(path: Path) -> str:
    if (path / "labels").is_dir() or any(
        (path / n).is_file() for n in ("data.yaml", "obj.names", "classes.txt")
    ):
        return "yolo"
    if any(path.rglob("*.xml")):
        return "voc"
    if any(path.rglob("*.txt")):
        return "yolo"
    if path.suffix.lower() == ".gdb" or any(path.glob("*.shp")):
        return "ogr"
    raise LabelError(
        f"{path}: folder holds no YOLO (*.txt) or VOC (*.xml) labels; pass format= / --format"
    )
