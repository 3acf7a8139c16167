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

from poppyscan.errors import ConfigError, LabelError

from ._files import class_name, expect, identifier, load_json, number, positive_size
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
    default_class: str | None = None,
) -> LabelSet:
    """Labels of a Label Studio JSON export.

    ``kind`` (default ``"annotations"``, one of :data:`LS_RESULT_KINDS`): read
    each task's latest submitted (not cancelled) annotation, or its latest
    prediction. Tasks without one are skipped (not yet labelled). Image paths in
    ``data.image`` (``/data/local-files/?d=...``, ``/data/upload/<n>/<hash>-x.png``,
    URLs) are resolved in ``images_dir`` or the export's folder, as a relative
    path first and then by file name. A region without a label gets
    ``default_class`` (default None: such a region is a LabelError). Values of
    the wrong type (``"rectanglelabels": "Tree"`` for ``["Tree"]``) and regions
    without area are LabelErrors.
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
    for i, task in enumerate(tasks):
        task_id = task.get("id")
        what = f"task {task_id}" if isinstance(task_id, (int, str)) else f"task #{i + 1}"
        chosen = _latest(path, f"{what} {kind}", task.get(kind) or [])
        if chosen is None:
            continue
        names = labelstudio_image_names(task["data"], path=path, what=what)
        geo = locator.locate(*names)
        results = expect(chosen.get("result") or [], list, path=path, what=f"{what} result")
        results = [expect(r, dict, path=path, what=f"{what} result #{j + 1}")
                   for j, r in enumerate(results)]
        sets.append(_task_labels(path, what, geo, results, default_class))
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
                and PurePosixPath(_url_path(v)).suffix.lower() in IMAGE_SUFFIXES
            ),
            None,
        )
    if not url:
        raise LabelError(f"{path}: {what} has no image in its data")
    try:
        parsed = urlparse(url)
    except ValueError as err:
        raise LabelError(f"{path}: {what} image {url[:80]!r} is not a path or URL ({err})") from None
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


def _url_path(text: str) -> str:
    try:
        return urlparse(text).path
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""


def _latest(path: Path, what: str, entries: object) -> dict | None:
    entries = expect(entries, list, path=path, what=what)
    kept = [e for e in (expect(e, dict, path=path, what=f"{what} #{i + 1}")
                        for i, e in enumerate(entries)) if not e.get("was_cancelled")]
    if not kept:
        return None
    # Latest by timestamp when there is one (ISO strings sort in time order), else last listed.
    order = sorted(
        range(len(kept)),
        key=lambda i: (str(kept[i].get("updated_at") or kept[i].get("created_at") or ""), i),
    )
    return kept[order[-1]]


def _task_labels(path: Path, what: str, geo, results: list[dict],
                 default_class: str | None) -> LabelSet:
    # Configs with a separate <Labels> tag give the class in a "labels" result with the region's id.
    label_by_id = {
        _region_id(path, what, r): expect(r.get("value"), dict, path=path,
                                          what=f"{what} labels value").get("labels")
        for r in results
        if r.get("type") == "labels" and r.get("id") is not None
    }
    boxes, box_classes, rings, ring_classes = [], [], [], []
    width_px, height_px = geo.width_px, geo.height_px
    for r in results:
        kind = r.get("type")
        if kind is not None and not isinstance(kind, str):
            raise LabelError(f"{path}: {what} has a region whose type is {kind!r}")
        if kind in _UNSUPPORTED:
            raise LabelError(
                f"{path}: {what} has a {kind} region; only rectangles and polygons can be read"
            )
        if kind not in _BOX_TYPES | _POLYGON_TYPES:
            continue
        region = f"{what} region {_region_id(path, what, r) or '?'}"
        value = expect(r.get("value"), dict, path=path, what=f"{region} value")
        names = value.get(kind if kind.endswith("labels") else "labels")
        if names is None:
            names = label_by_id.get(_region_id(path, what, r))
        name = _region_class(path, region, names, default_class)
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
            positive_size(w, h, path=path, what=region)
            if rotation % 360 == 0:
                boxes.append([x, y, x + w, y + h])
                box_classes.append(name)
            else:
                rings.append(_rotated_rect(x, y, w, h, rotation))
                ring_classes.append(name)
        else:
            rings.append(_polygon_points(path, region, value.get("points")) / 100
                         * [width_px, height_px])
            ring_classes.append(name)
    return shapes_to_labels(geo, boxes, box_classes, rings, ring_classes, source=str(path))


def _region_id(path: Path, what: str, result: dict) -> int | str | None:
    region_id = result.get("id")
    return None if region_id is None else identifier(region_id, path=path, what=f"{what} region id")


def _region_class(path: Path, region: str, names: object, default_class: str | None) -> str:
    """The one class of a region: its labels are a list of one name (or none: the default)."""
    if isinstance(names, str):
        raise LabelError(
            f"{path}: {region} labels are the string {names[:40]!r}; Label Studio writes a list "
            f"such as [{names[:40]!r}]"
        )
    names = expect(names if names is not None else [], list, path=path, what=f"{region} labels")
    if len(names) > 1:
        raise LabelError(f"{path}: {region} has {len(names)} labels {names[:5]!r}; one per region")
    return class_name(names[0] if names else None, default_class, path=path, what=region)


def _polygon_points(path: Path, region: str, points: object) -> np.ndarray:
    """``points`` ([[x, y], ...] in percent, at least 3) as an (N, 2) array."""
    points = expect(points, list, path=path, what=f"{region} points")
    if len(points) < 3:
        raise LabelError(f"{path}: {region} polygon needs at least 3 points")
    ring = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise LabelError(f"{path}: {region} point {point!r:.40} is not an [x, y] pair")
        ring.append([number(v, path=path, what=f"{region} point") for v in point])
    return np.array(ring, dtype="float64")


def _rotated_rect(x: float, y: float, w: float, h: float, rotation_deg: float) -> np.ndarray:
    """Corners of a rectangle rotated clockwise (on screen, y down) about its top-left corner."""
    theta = math.radians(rotation_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    offsets = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype="float64")
    rot = np.array([[cos, -sin], [sin, cos]])
    return offsets @ rot.T + [x, y]
