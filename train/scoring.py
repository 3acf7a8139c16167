"""Targets against ground-truth plots: the matching rule, plot-level scores, the conf sweep.

A target *finds* a plot when their IoU is at least ``match_iou`` or the
target's centroid lies in the plot, one target per plot, most confident first.
A target that finds nothing is a false target: a wasted visit. Only plots on
examined ground count (at least ``MIN_COVERED_FRAC`` of their area on it).

Higher thresholds are scored from one run's detections, filtered and
re-merged (:func:`targets_at`); :func:`pool_runs` joins runs over separate
surveys so they score as one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import shapely

from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import DEFAULT_MERGE, Cluster, MergeSettings
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.tiles import ChipStats
from poppyscan.tiles.errors import ConfigError
from poppyscan.train.truth import TruthPlots

__all__ = [
    "DEFAULT_SWEEP",
    "HEADLINE_MIN_AREA_M2",
    "MIN_COVERED_FRAC",
    "SIZE_BINS_M2",
    "PlotScore",
    "covered_plots",
    "match_targets",
    "pool_runs",
    "recall_by_size",
    "recall_by_stage",
    "score_clusters",
    "score_targets",
    "sweep_conf",
    "targets_at",
]

# Plot area bins in m2: the smallest plots are the hardest to see.
SIZE_BINS_M2: tuple[tuple[str, float, float], ...] = (
    ("<20", 0.0, 20.0), ("20-100", 20.0, 100.0), ("100-600", 100.0, 600.0),
    (">=600", 600.0, math.inf),
)
# Plots at least this big get their own headline scores: smaller ones are
# reported, but a 10 m2 plot is a few plants and a different question.
HEADLINE_MIN_AREA_M2 = 20.0
DEFAULT_SWEEP = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# A plot counts when at least this share of it lies on examined ground.
MIN_COVERED_FRAC = 0.5


@dataclass(frozen=True)
class PlotScore:
    """Targets against plots at one confidence threshold."""

    conf: float
    n_plots: int  # plots on examined ground
    n_targets: int
    true_targets: int  # targets that found a plot (= plots found: matching is one to one)
    area_km2: float

    @property
    def false_targets(self) -> int:
        return self.n_targets - self.true_targets

    @property
    def missed(self) -> int:
        return self.n_plots - self.true_targets

    @property
    def recall(self) -> float | None:
        return self.true_targets / self.n_plots if self.n_plots else None

    @property
    def precision(self) -> float | None:
        return self.true_targets / self.n_targets if self.n_targets else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)

    @property
    def false_per_km2(self) -> float | None:
        return self.false_targets / self.area_km2 if self.area_km2 > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(false_targets=self.false_targets, missed=self.missed,
                   recall=_round(self.recall), precision=_round(self.precision), f1=_round(self.f1),
                   false_per_km2=_round(self.false_per_km2, 2), area_km2=_round(self.area_km2, 6))
        return out


def match_targets(
    targets: Sequence, confs: Sequence[float], plots: np.ndarray, *, match_iou: float = 0.1
) -> dict[int, int]:
    """Greedy one-to-one matching, most confident target first: ``{target index: plot index}``.

    A target may take a plot when IoU >= ``match_iou`` or its centroid lies in
    the plot; among those it takes the free plot of highest IoU.
    """
    if not len(targets) or not len(plots):
        return {}
    tree = shapely.STRtree(plots)
    taken: set[int] = set()
    out: dict[int, int] = {}
    for t in sorted(range(len(targets)), key=lambda k: -confs[k]):
        target = targets[t]
        centre = target.centroid
        best, best_iou = None, -1.0
        for p in tree.query(target, predicate="intersects").tolist():
            if p in taken:
                continue
            plot = plots[p]
            inter = shapely.intersection(target, plot).area
            iou = inter / max(shapely.union(target, plot).area, 1e-12)
            if (iou >= match_iou or plot.contains(centre)) and iou > best_iou:
                best, best_iou = p, iou
        if best is not None:
            taken.add(best)
            out[t] = best
    return out


def covered_plots(truth: TruthPlots, coverage: shapely.Geometry) -> np.ndarray:
    """Per plot: at least MIN_COVERED_FRAC of its area lies on examined ground."""
    if not len(truth):
        return np.zeros(0, dtype=bool)
    inside = shapely.area(shapely.intersection(truth.geometries, coverage))
    return inside >= MIN_COVERED_FRAC * np.maximum(truth.areas_m2, 1e-12)


def score_targets(
    targets: Sequence, confs: Sequence[float], truth: TruthPlots, coverage, *,
    conf: float, match_iou: float = 0.1, min_area_m2: float = 0.0,
) -> tuple[PlotScore, np.ndarray]:
    """Score target polygons against the plots on ``coverage``; also return each plot's found flag.

    With ``min_area_m2`` > 0 the score is that of plots of at least that area,
    the way COCO scores an area range: smaller plots are ignored, and so are
    the targets that found them and the false targets smaller than
    ``min_area_m2``; the figures answer "how well are plots this big found".
    """
    matched = _match(targets, confs, truth, coverage, match_iou)
    return _score(matched, targets, truth, coverage, conf, min_area_m2), matched.found


class _Matched(NamedTuple):
    covered: np.ndarray  # per plot: on examined ground
    matches: dict[int, int]  # target index -> index among the covered plots
    found: np.ndarray  # per plot: a target took it


def _match(targets, confs, truth: TruthPlots, coverage, match_iou: float) -> _Matched:
    covered = covered_plots(truth, coverage)
    matches = match_targets(targets, confs, truth.geometries[covered], match_iou=match_iou)
    found = np.zeros(len(truth), dtype=bool)
    found[np.flatnonzero(covered)[list(matches.values())]] = True
    return _Matched(covered, matches, found)


def _score(matched: _Matched, targets, truth: TruthPlots, coverage, conf: float,
           min_area_m2: float) -> PlotScore:
    covered, matches, found = matched
    large = truth.areas_m2 >= min_area_m2
    target_areas = shapely.area(np.asarray(targets, dtype=object)) if len(targets) else np.zeros(0)
    small_false = sum(1 for t, a in enumerate(target_areas) if t not in matches and a < min_area_m2)
    ignored = int((found & ~large).sum()) + small_false
    return PlotScore(float(conf), int((covered & large).sum()), len(targets) - ignored,
                     int((found & large).sum()), float(shapely.area(coverage)) / 1e6)


def score_clusters(
    clusters: Sequence[Cluster], truth: TruthPlots, coverage, *, conf: float, match_iou: float,
    min_area_m2: float,
) -> tuple[PlotScore, PlotScore | None, np.ndarray]:
    """All-plot and (``min_area_m2`` > 0) large-plot scores of ``clusters`` from one matching.

    Also returns each plot's found flag.
    """
    polygons, scores = [c.polygon for c in clusters], [c.conf for c in clusters]
    matched = _match(polygons, scores, truth, coverage, match_iou)
    large = _score(matched, polygons, truth, coverage, conf, min_area_m2) if min_area_m2 > 0 else None
    return _score(matched, polygons, truth, coverage, conf, 0.0), large, matched.found


def targets_at(detections: Sequence[Detection], conf: float, merge: MergeSettings) -> list[Cluster]:
    """The targets a run at ``conf`` gives: detections at or above it, merged by ``merge``."""
    kept = [d for d in detections if d.conf >= conf]
    return merge.apply(kept)


def sweep_conf(
    result: DetectionResult,
    truth: TruthPlots,
    confs: Sequence[float] = DEFAULT_SWEEP,
    *,
    merge: MergeSettings = DEFAULT_MERGE,
    match_iou: float = 0.1,
    min_area_m2: float = 0.0,
) -> list[dict[str, Any]]:
    """Precision, recall, F1 and false targets per km2 at each threshold in ``confs``.

    With ``min_area_m2`` > 0 each row also holds ``min_area``: the same scores
    for plots of at least that area (see :func:`score_targets`).

    ``result`` must come from a run at or below the lowest threshold; its
    detections are re-merged per threshold, which gives the same targets as
    separate runs (NMS keeps the most confident box first, so dropping low
    boxes afterwards changes nothing).
    """
    out = []
    for conf in sorted(confs):
        clusters = targets_at(result.detections, conf, merge)
        score, large, _ = score_clusters(clusters, truth, result.coverage, conf=conf,
                                         match_iou=match_iou, min_area_m2=min_area_m2)
        row = score.to_dict()
        if large is not None:
            row["min_area"] = large.to_dict()
        out.append(row)
    return out


def recall_by_size(found: np.ndarray, covered: np.ndarray, truth: TruthPlots) -> dict[str, dict]:
    """Recall of the covered plots in each of SIZE_BINS_M2."""
    areas = truth.areas_m2
    return {
        name: _recall(found[covered & (areas >= lo) & (areas < hi)]) for name, lo, hi in SIZE_BINS_M2
    }


def recall_by_stage(found: np.ndarray, covered: np.ndarray, truth: TruthPlots) -> dict[str, dict]:
    """Recall of the covered plots of each growth stage named in ``truth``."""
    stages = np.array([s if s is not None else "" for s in truth.stages], dtype=object)
    return {
        str(stage): _recall(found[covered & (stages == stage)])
        for stage in sorted(set(stages[covered].tolist()) - {""})
    }


def pool_runs(
    results: Sequence[DetectionResult], truths: Sequence[TruthPlots]
) -> tuple[DetectionResult, TruthPlots]:
    """One detection result and one truth set from runs over separate surveys in one CRS.

    Surveys lie apart, so merging their detections together gives the same
    targets as merging each run's alone: the pooled scores need no second run.
    Timings, chip counts and collar boxes add up.
    """
    if not results or len(results) != len(truths):
        raise ConfigError(f"pooling needs one truth set per detection run; got {len(results)} "
                          f"runs and {len(truths)} truth sets")
    crs = results[0].crs
    if any(r.crs != crs for r in results):
        raise ConfigError("detection runs in several CRSs; reproject the surveys into one to pool them")
    truths = [t.to_crs(crs) for t in truths]
    timings: dict[str, float] = {}
    for r in results:
        for key, seconds in r.timings_s.items():
            timings[key] = round(timings.get(key, 0.0) + seconds, 3)
    result = replace(results[0], infos=[i for r in results for i in r.infos],
                     detections=[d for r in results for d in r.detections],
                     clusters=[c for r in results for c in r.clusters],
                     coverage=shapely.union_all([r.coverage for r in results]),
                     stats=_pooled_stats([r.stats for r in results]),
                     collar_boxes=sum(r.collar_boxes for r in results), timings_s=timings)
    truth = TruthPlots(np.concatenate([t.geometries for t in truths]),
                       tuple(s for t in truths for s in t.stages), crs,
                       ";".join(t.source for t in truths if t.source))
    return result, truth


def _pooled_stats(stats: Sequence[ChipStats]) -> ChipStats:
    out = ChipStats()
    for one in stats:
        for source, counts in one.per_source.items():
            for key, n in counts.items():
                out.count(source, key, n)
    return out


def _recall(found: np.ndarray) -> dict[str, Any]:
    n = int(len(found))
    hits = int(found.sum())
    return {"plots": n, "found": hits, "recall": _round(hits / n) if n else None}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
