"""Ground-truth plots for scoring: one projected CRS, one plot per feature, stage and class kept."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS

from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.labels import LabelSet, detect_format, read_labels

__all__ = ["TruthPlots", "join_truths", "read_truth"]


@dataclass(frozen=True)
class TruthPlots:
    """Ground-truth plots in one projected CRS, with their growth stage and class where known.

    ``classes`` is empty when no class is known, else one name (or None) per plot.
    """

    geometries: np.ndarray
    stages: tuple[str | None, ...]
    crs: CRS
    source: str = ""
    classes: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return len(self.geometries)

    @property
    def areas_m2(self) -> np.ndarray:
        return shapely.area(self.geometries) if len(self) else np.zeros(0)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Distinct class names, sorted (none when classes are unknown)."""
        return tuple(sorted({c for c in self.classes if c is not None}))

    def of_class(self, name: str) -> TruthPlots:
        """The plots of class ``name``."""
        keep = np.array([c == name for c in self.classes] or [False] * len(self), dtype=bool)
        return TruthPlots(self.geometries[keep], tuple(np.array(self.stages, dtype=object)[keep]),
                          self.crs, self.source, tuple(np.array(self.classes, dtype=object)[keep]))

    def to_crs(self, crs: CRS) -> TruthPlots:
        """These plots in ``crs`` (themselves when already there)."""
        if self.crs == crs:
            return self
        return TruthPlots(reproject_geometry(self.geometries, self.crs, crs), self.stages, crs,
                          self.source, self.classes)


def read_truth(
    truth: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    *,
    crs,
    stage_field: str = "stage",
    class_field: str = "label",
) -> TruthPlots:
    """Ground-truth plots in ``crs`` (projected) from a LabelSet or label files.

    Vector files (GeoJSON, GPKG, ...) are read with their attributes, so a
    ``stage_field`` (default ``"stage"``) is kept, and so is the class in
    ``class_field`` (default ``"label"``, as :func:`train.labels.read_labels`
    reads it) when the file has one; other formats go through
    :func:`train.labels.read_labels` (classes, no stage). One feature is one
    plot (a MultiPolygon stays one plot).
    """
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ConfigError(f"truth CRS {crs.name} is not projected; areas need metres")
    if isinstance(truth, LabelSet):
        parts = [_from_label_set(truth, crs)]
    else:
        paths = [truth] if isinstance(truth, (str, os.PathLike)) else list(truth)
        if not paths:
            raise ConfigError("no ground-truth label files given")
        parts = [_read_truth_file(Path(p), crs, stage_field, class_field) for p in paths]
    return join_truths(parts, crs)


def join_truths(parts: Sequence[TruthPlots], crs: CRS) -> TruthPlots:
    """One truth set from several in ``crs``; classes are kept only when every part has them."""
    parts = [p.to_crs(crs) for p in parts]
    geoms = np.concatenate([p.geometries for p in parts]) if parts else np.empty(0, dtype=object)
    stages = tuple(s for p in parts for s in p.stages)
    known = all(p.classes or not len(p) for p in parts)
    classes = tuple(c for p in parts for c in p.classes) if known else ()
    return TruthPlots(geoms, stages, crs, ";".join(p.source for p in parts if p.source), classes)


def _from_label_set(labels: LabelSet, crs: CRS) -> TruthPlots:
    local = labels.to_crs(crs)
    return TruthPlots(local.geometries, (None,) * len(local), crs, labels.source, local.classes)


def _read_truth_file(path: Path, crs: CRS, stage_field: str, class_field: str) -> TruthPlots:
    if not path.exists():
        raise LabelError(f"{path}: no such ground-truth file")
    if path.is_dir() or detect_format(path) != "ogr":
        return _from_label_set(read_labels(path), crs)
    meta, _, wkb, field_data = ogr_read(str(path), force_2d=True)
    if not meta.get("crs"):
        raise LabelError(f"{path}: vector file has no CRS; truth plots cannot be placed on the map")
    geoms = shapely.from_wkb(wkb)
    fields = [str(f) for f in meta["fields"]]
    stages = _field(field_data, fields, stage_field, len(geoms))
    classes = _field(field_data, fields, class_field, len(geoms))
    keep_geoms, keep_stages, keep_classes = [], [], []
    for index, (geom, stage, cls) in enumerate(zip(geoms, stages, classes, strict=True)):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise LabelError(f"{path}: feature {index} is a {geom.geom_type}; plots must be polygons")
        keep_geoms.append(reproject_geometry(geom, meta["crs"], crs))
        keep_stages.append(stage)
        keep_classes.append(cls)
    return TruthPlots(np.array(keep_geoms, dtype=object), tuple(keep_stages), crs, str(path),
                      tuple(keep_classes) if class_field in fields else ())


def _field(field_data, fields: list[str], name: str, n: int) -> list[str | None]:
    """A text field's values (None where empty), or None for all when the layer lacks it."""
    if name not in fields:
        return [None] * n
    return [None if v is None or str(v) == "" else str(v) for v in field_data[fields.index(name)]]
