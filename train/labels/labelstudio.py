"""Read a Label Studio JSON export (list of tasks) as georeferenced labels.

Regions are ``rectanglelabels`` (``x, y, width, height`` in percent of the
image, ``rotation`` in degrees clockwise about the top-left corner) and
``polygonlabels`` (``points`` in percent). Percent values are scaled by the
size of the image on disk, so a downscaled display in Label Studio is harmless.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from poppyscan.tiles.errors import ConfigError, LabelError

from ._files import load_json, number
from .georef import IMAGE_SUFFIXES, ImageLocator, shapes_to_labels
from .labelset import LabelSet

__all__ = [
    "read_labelstudio",
    "looks_like_labelstudio",
    "labelstudio_image_names",
    "LS_RESULT_KINDS",
]

# Which results of a task to read: the analysts' annotations, or the model's predictions.
LS_RESULT_KINDS = ("annotations", "predictions")

_BOX_TYPES = {"rectanglelabels", "rectangle"}
_POLYGON_TYPES = {"polygonlabels", "polygon"}
_UNSUPPORTED = {"brushlabels", "brush", "ellipselabels", "ellipse", "keypointlabels", "keypoint"}
# Label Studio prefixes uploaded files with 8 hex digits and a dash.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def looks_like_labelstudio(data: object) -> bool:
    """Whether parsed JSON has the shape of a Label Studio export (tasks with ``data``)."""
    tasks = data if isinstance(data, list) else [data]
    return bool(tasks) and all(
        isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks
    )


def read_labelstudio(
    path: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    kind: str = "annotations",
    default_class: str = "poppy",
) -> LabelSet:
    """Labels of a Label Studio JSON export.

    ``kind`` (default ``"annotations"``, one of :data:`LS_RESULT_KINDS`): read
    each task's latest submitted (not cancelled) annotation, or its latest
    prediction. Tasks without one are skipped (not yet labelled). Image paths in
    ``data.image`` (``/data/local-files/?d=...``, ``/data/upload/<n>/<hash>-x.png``,
    URLs) are resolved in ``images_dir`` or the export's folder, as a relative
    path first and then by file name. A region without a label gets ``default_class``.
    """
    if kind not in LS_RESULT_KINDS:
        raise ConfigError(f"Label Studio kind {kind!r}: use one of {', '.join(LS_RESULT_KINDS)}")
    path = Path(path)
    data = load_json(path)
    if not looks_like_labelstudio(data):
        raise LabelError(
            f"{path}: not a Label Studio JSON export (expected a list of tasks with 'data')"
        )
    tasks = data if isinstance(data, list) else [data]
    locator = ImageLocator(path, Path(images_dir) if images_dir is not None else None)
    sets = []
    for task in tasks:
        chosen = _latest(task.get(kind) or [])
        if chosen is None:
            continue
        what = f"task {task.get('id', '?')}"
        names = labelstudio_image_names(task["data"], path=path, what=what)
        geo = locator.locate(*names)
        sets.append(_task_labels(path, what, geo, chosen.get("result") or [], default_class))
    if not sets:
        raise LabelError(
            f"{path}: no task has {kind} to read (label some tasks, or read the pre-annotations: kind='predictions' / --predictions)"
        )
    return LabelSet.concat(sets, source=str(path))


def labelstudio_image_names(task_data: dict, *, path: Path, what: str) -> list[str]:
    """Names to look the task's image up by, most specific first."""
    url = task_data.get("image")
    if not isinstance(url, str):
        url = next(
            (
                v
                for v in task_data.values()
                if isinstance(v, str)
                and PurePosixPath(urlparse(v).path).suffix.lower() in IMAGE_SUFFIXES
            ),
            None,
        )
    if not url:
        raise LabelError(f"{path}: {what} has no image in its data")
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    if "d" in query:  # local storage: path relative to LOCAL_FILES_DOCUMENT_ROOT
        rel = query["d"][0]
        return list(dict.fromkeys([rel, PurePosixPath(rel).name]))
    rel = unquote(parsed.path)
    base = PurePosixPath(rel).name
    if rel.startswith("/data/upload/"):
        return list(dict.fromkeys([base, _UPLOAD_PREFIX.sub("", base)]))
    # A URL's path is relative to its host; a plain path is used as written.
    first = rel.lstrip("/") if parsed.scheme else rel
    return list(dict.fromkeys([first, base]))


def _latest(entries: list[dict]) -> dict | None:
    kept = [e for e in entries if isinstance(e, dict) and not e.get("was_cancelled")]
    if not kept:
        return None
    # Latest by timestamp when there is one (ISO strings sort in time order), else last listed.
    order = sorted(
        range(len(kept)),
        key=lambda i: (str(kept[i].get("updated_at") or kept[i].get("created_at") or ""), i),
    )
    return kept[order[-1]]


def _task_labels(path: Path, what: str, geo, results: list[dict], default_class: str) -> LabelSet:
    # Configs with a separate <Labels> tag give the class in a "labels" result with the region's id.
    label_by_id = {
        r.get("id"): (r.get("value") or {}).get("labels")
        for r in results
        if r.get("type") == "labels"
    }
    boxes, box_classes, rings, ring_classes = [], [], [], []
    width_px, height_px = geo.width_px, geo.height_px
    for r in results:
        kind = r.get("type")
        if kind in _UNSUPPORTED:
            raise LabelError(
                f"{path}: {what} has a {kind} region; only rectangles and polygons can be read"
            )
        if kind not in _BOX_TYPES | _POLYGON_TYPES:
            continue
        value = r.get("value") or {}
        names = value.get(kind if kind.endswith("labels") else "labels") or label_by_id.get(
            r.get("id")
        )
        name = str(names[0]) if names else default_class
        region = f"{what} region {r.get('id', '?')}"
        if kind in _BOX_TYPES:
            x, y, w, h = (
                number(value.get(k), path=path, what=f"{region} {k}") / 100 * scale
                for k, scale in (
                    ("x", width_px),
                    ("y", height_px),
                    ("width", width_px),
                    ("height", height_px),
                )
            )
            rotation = number(value.get("rotation", 0), path=path, what=f"{region} rotation")
            if w <= 0 or h <= 0:
                raise LabelError(f"{path}: {region} has zero or negative width/height")
            if rotation % 360 == 0:
                boxes.append([x, y, x + w, y + h])
                box_classes.append(name)
            else:
                rings.append(_rotated_rect(x, y, w, h, rotation))
                ring_classes.append(name)
        else:
            points = value.get("points")
            if not isinstance(points, list) or len(points) < 3:
                raise LabelError(f"{path}: {region} polygon needs at least 3 points")
            ring = np.array(
                [[number(p, path=path, what=f"{region} point") for p in pt] for pt in points],
                dtype="float64",
            ).reshape(-1, 2)
            rings.append(ring / 100 * [width_px, height_px])
            ring_classes.append(name)
    return shapes_to_labels(geo, boxes, box_classes, rings, ring_classes, source=str(path))


def _rotated_rect(x: float, y: float, w: float, h: float, rotation_deg: float) -> np.ndarray:
    """Corners of a rectangle rotated clockwise (on screen, y down) about its top-left corner."""
    theta = math.radians(rotation_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    offsets = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype="float64")
    rot = np.array([[cos, -sin], [sin, cos]])
    return offsets @ rot.T + [x, y]
