"""Ground-truth plots for scoring: one projected CRS, one plot per feature, growth stage kept."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS

from poppyscan.tiles.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.labels import LabelSet, detect_format, read_labels

__all__ = ["TruthPlots", "read_truth"]


@dataclass(frozen=True)
class TruthPlots:
    """Ground-truth plots in one projected CRS, with their growth stage where known."""

    geometries: np.ndarray
    stages: tuple[str | None, ...]
    crs: CRS
    source: str = ""

    def __len__(self) -> int:
        return len(self.geometries)

    @property
    def areas_m2(self) -> np.ndarray:
        return shapely.area(self.geometries) if len(self) else np.zeros(0)

    def to_crs(self, crs: CRS) -> TruthPlots:
        """These plots in ``crs`` (themselves when already there)."""
        if self.crs == crs:
            return self
        return TruthPlots(reproject_geometry(self.geometries, self.crs, crs), self.stages, crs,
                          self.source)


def read_truth(
    truth: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    *,
    crs,
    stage_field: str = "stage",
) -> TruthPlots:
    """Ground-truth plots in ``crs`` (projected) from a LabelSet or label files.

    Vector files (GeoJSON, GPKG, ...) are read with their attributes, so a
    ``stage_field`` (default ``"stage"``) is kept; other formats go through
    :func:`train.labels.read_labels` and have no stage. One feature is one plot
    (a MultiPolygon stays one plot).
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
        parts = [_read_truth_file(Path(p), crs, stage_field) for p in paths]
    geoms = np.concatenate([p.geometries for p in parts]) if parts else np.empty(0, dtype=object)
    stages = tuple(s for p in parts for s in p.stages)
    return TruthPlots(geoms, stages, crs, ";".join(p.source for p in parts))


def _from_label_set(labels: LabelSet, crs: CRS) -> TruthPlots:
    local = labels.to_crs(crs)
    return TruthPlots(local.geometries, (None,) * len(local), crs, labels.source)


def _read_truth_file(path: Path, crs: CRS, stage_field: str) -> TruthPlots:
    if not path.exists():
        raise LabelError(f"{path}: no such ground-truth file")
    if path.is_dir() or detect_format(path) != "ogr":
        return _from_label_set(read_labels(path), crs)
    meta, _, wkb, field_data = ogr_read(str(path), force_2d=True)
    if not meta.get("crs"):
        raise LabelError(f"{path}: vector file has no CRS; truth plots cannot be placed on the map")
    geoms = shapely.from_wkb(wkb)
    fields = [str(f) for f in meta["fields"]]
    stages = field_data[fields.index(stage_field)] if stage_field in fields else [None] * len(geoms)
    keep_geoms, keep_stages = [], []
    for index, (geom, stage) in enumerate(zip(geoms, stages, strict=True)):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise LabelError(f"{path}: feature {index} is a {geom.geom_type}; plots must be polygons")
        keep_geoms.append(reproject_geometry(geom, meta["crs"], crs))
        keep_stages.append(None if stage is None or str(stage) == "" else str(stage))
    return TruthPlots(np.array(keep_geoms, dtype=object), tuple(keep_stages), crs, str(path))
