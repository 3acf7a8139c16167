"""Hard-negative mining: a model's false targets on labelled surveys, as a vector file.

A model's precision is set by what it confuses with a plot. Its false targets
on surveys whose plots are all labelled name those places; a dataset built
with ``dataset build --hard-negatives FILE`` then keeps the chips that hold
them. Only targets that touch no plot at all are written: stricter than the
scoring's match rule, since a target grazing a plot marks a chip that holds one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write

from poppyscan.detect.merge import DEFAULT_MERGE, Cluster, MergeSettings
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.errors import ConfigError
from poppyscan.train.scoring import targets_at
from poppyscan.train.truth import TruthPlots

__all__ = ["MinedTargets", "false_targets", "mine_false_targets"]


class MinedTargets(NamedTuple):
    """What :func:`mine_false_targets` wrote."""

    path: Path
    n_false: int  # false targets written
    n_targets: int  # targets at the mining threshold


def false_targets(targets: Sequence[Cluster], plots: np.ndarray) -> list[Cluster]:
    """The targets whose polygon touches none of ``plots`` (same CRS)."""
    polygons = np.array([t.polygon for t in targets], dtype=object)
    hits = shapely.STRtree(plots).query(polygons, predicate="intersects")[0]
    return [targets[i] for i in np.setdiff1d(np.arange(len(targets)), hits)]


def mine_false_targets(
    result: DetectionResult,
    truth: TruthPlots,
    path: str | os.PathLike,
    *,
    conf: float,
    merge: MergeSettings = DEFAULT_MERGE,
) -> MinedTargets:
    """Write the targets of ``result`` at ``conf`` (merged by ``merge``) that touch no plot.

    ``result`` must come from a run at or below ``conf``; ``truth`` must hold
    every plot of its surveys, or real plots are mined as negatives. The file
    (GeoPackage, one ``conf`` field, the run's CRS) is replaced if it exists.
    """
    if not 0 < conf < 1:
        raise ConfigError(f"conf={conf!r} must be in (0, 1)")
    targets = targets_at(result.detections, conf, merge)
    false = false_targets(targets, truth.to_crs(result.crs).geometries)
    path = Path(path)
    ogr_write(str(path), shapely.to_wkb(np.array([t.polygon for t in false], dtype=object)),
              [np.array([t.conf for t in false], dtype="float64")], ["conf"],
              geometry_type="Polygon", crs=result.crs.to_wkt(), driver="GPKG")
    return MinedTargets(path, len(false), len(targets))
