"""Targets against ground-truth plots: the matching rules, plot-level scores, the conf sweep.

Two rules, reported under their own names:

*IoU matching* (the scores: precision, recall, F1). COCO's greedy rule: targets
in order of falling confidence each take the not yet matched plot of highest
IoU, if that IoU is at least ``match_iou``. One target per plot and one plot
per target; a target that matches nothing is a false target. A box far smaller
than its plot (IoU < ``match_iou``) does not match, wherever its centre lies.

*The plot-finding rule* ("plots found (centroid/overlap rule)"): a plot is
found when some target overlaps it (any positive area) or has its centroid in
it; a target is on a plot when it finds one. Not one to one: it answers the
field crew's question (is there a plot where the target sends me?), not
whether the outline is right.

Only plots on examined ground count (at least ``MIN_COVERED_FRAC`` of their
area on it). Higher thresholds are scored from one run's detections, filtered
and re-merged (:func:`targets_at`); :func:`pool_runs` joins runs over separate
surveys so they score as one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import shapely

from poppyscan.config import defaults
from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import DEFAULT_MERGE, Cluster, MergeSettings
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.errors import ConfigError
from poppyscan.tiles import ChipStats
from poppyscan.train.truth import TruthPlots, join_truths

__all__ = [
    "DEFAULT_MATCH_IOU",
    "DEFAULT_SWEEP",
    "HEADLINE_MIN_AREA_M2",
    "MIN_COVERED_FRAC",
    "SIZE_BINS_M2",
    "PlotScore",
    "covered_plots",
    "find_plots",
    "match_targets",
    "pool_runs",
    "recall_by_size",
    "recall_by_stage",
    "score_by_class",
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
HEADLINE_MIN_AREA_M2 = float(defaults("evaluate")["min_area_m2"] or 0.0)  # null: a card names its own
DEFAULT_SWEEP = tuple(float(c) for c in defaults("evaluate")["sweep"])
DEFAULT_MATCH_IOU = float(defaults("evaluate")["match_iou"])
# A plot counts when at least this share of it lies on examined ground.
MIN_COVERED_FRAC = 0.5


@dataclass(frozen=True)
class PlotScore:
    """Targets against plots at one confidence threshold."""

    conf: float
    n_plots: int  # plots on examined ground
    n_targets: int
    true_targets: int  # targets IoU-matched to a plot (= plots matched: one to one)
    area_km2: float
    plots_found: int = 0  # plots found by the centroid/overlap rule
    targets_on_plots: int = 0  # targets that found a plot by that rule

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
        """2 TP / (plots + targets): 0 when nothing matched, None with neither plots nor targets."""
        total = self.n_plots + self.n_targets
        return 2 * self.true_targets / total if total else None

    @property
    def false_per_km2(self) -> float | None:
        return self.false_targets / self.area_km2 if self.area_km2 > 0 else None

    @property
    def found_recall(self) -> float | None:
        """Share of plots found by the centroid/overlap rule."""
        return self.plots_found / self.n_plots if self.n_plots else None

    @property
    def on_plot_share(self) -> float | None:
        """Share of targets on a plot (centroid/overlap rule)."""
        return self.targets_on_plots / self.n_targets if self.n_targets else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("plots_found", "targets_on_plots"):
            del out[key]
        out.update(false_targets=self.false_targets, missed=self.missed,
                   recall=_round(self.recall), precision=_round(self.precision), f1=_round(self.f1),
                   false_per_km2=_round(self.false_per_km2, 2), area_km2=_round(self.area_km2, 6))
        out["centroid_or_overlap"] = {
            "plots_found": self.plots_found, "recall": _round(self.found_recall),
            "targets_on_plots": self.targets_on_plots, "share_of_targets": _round(self.on_plot_share),
        }
        return out


class _Pairs(NamedTuple):
    """Every target-plot pair that overlaps or holds the target's centroid."""

    target: np.ndarray
    plot: np.ndarray
    iou: np.ndarray
    finds: np.ndarray  # positive overlap, or the target's centroid in the plot


def _pairs(targets: Sequence, plots: np.ndarray) -> _Pairs:
    polygons = np.asarray(list(targets), dtype=object)
    plots = np.asarray(plots, dtype=object)
    if not len(polygons) or not len(plots):
        return _Pairs(*(np.zeros(0, dtype=int),) * 2, np.zeros(0), np.zeros(0, dtype=bool))
    tree = shapely.STRtree(plots)
    t_overlap, p_overlap = tree.query(polygons, predicate="intersects")
    t_centre, p_centre = tree.query(shapely.centroid(polygons), predicate="within")
    pairs = np.unique(np.concatenate([np.stack([t_overlap, p_overlap], 1),
                                      np.stack([t_centre, p_centre], 1)]).reshape(-1, 2), axis=0)
    t, p = pairs[:, 0], pairs[:, 1]
    inter = shapely.area(shapely.intersection(polygons[t], plots[p]))
    union = shapely.area(polygons[t]) + shapely.area(plots[p]) - inter
    centre_in = shapely.contains(plots[p], shapely.centroid(polygons[t]))
    return _Pairs(t, p, inter / np.maximum(union, 1e-12), (inter > 0) | centre_in)


def match_targets(
    targets: Sequence, confs: Sequence[float], plots: np.ndarray, *,
    match_iou: float = DEFAULT_MATCH_IOU,
) -> dict[int, int]:
    """COCO's greedy one-to-one matching by IoU: ``{target index: plot index}``.

    Targets in order of falling confidence (ties: their order) each take the
    unmatched plot of highest IoU, when that IoU is at least ``match_iou``.

    >>> plot = shapely.box(0, 0, 10, 10)
    >>> match_targets([shapely.box(2, 2, 8, 8)], [0.9], [plot], match_iou=0.4)  # IoU 0.36
    {}
    """
    return _greedy(_pairs(targets, plots), confs, match_iou)


def _greedy(pairs: _Pairs, confs: Sequence[float], match_iou: float) -> dict[int, int]:
    strong = pairs.iou >= match_iou
    options: dict[int, list[tuple[float, int]]] = {}
    for t, p, iou in zip(pairs.target[strong].tolist(), pairs.plot[strong].tolist(),
                         pairs.iou[strong].tolist(), strict=True):
        options.setdefault(t, []).append((iou, p))
    taken: set[int] = set()
    out: dict[int, int] = {}
    for t in sorted(options, key=lambda k: (-confs[k], k)):
        free = [(iou, -p) for iou, p in options[t] if p not in taken]
        if free:
            best = -max(free)[1]
            taken.add(best)
            out[t] = best
    return out


def find_plots(targets: Sequence, plots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centroid/overlap rule: (per plot: found, per target: on a plot); see the module doc."""
    pairs = _pairs(targets, plots)
    found = np.zeros(len(plots), dtype=bool)
    on_plot = np.zeros(len(targets), dtype=bool)
    found[pairs.plot[pairs.finds]] = True
    on_plot[pairs.target[pairs.finds]] = True
    return found, on_plot


def covered_plots(truth: TruthPlots, coverage: shapely.Geometry) -> np.ndarray:
    """Per plot: at least MIN_COVERED_FRAC of its area lies on examined ground."""
    if not len(truth):
        return np.zeros(0, dtype=bool)
    inside = shapely.area(shapely.intersection(truth.geometries, coverage))
    return inside >= MIN_COVERED_FRAC * np.maximum(truth.areas_m2, 1e-12)


def score_targets(
    targets: Sequence, confs: Sequence[float], truth: TruthPlots, coverage, *,
    conf: float, match_iou: float = DEFAULT_MATCH_IOU, min_area_m2: float = 0.0,
) -> tuple[PlotScore, np.ndarray]:
    """Score target polygons against the plots on ``coverage``; also return each plot's found flag.

    With ``min_area_m2`` > 0 the score is that of plots of at least that area,
    the way COCO scores an area range: smaller plots are ignored, and so are
    the targets that found them and the false targets smaller than
    ``min_area_m2``; the figures answer "how well are plots this big found".
    """
    matched = _match(targets, confs, truth, coverage, match_iou, (min_area_m2,))
    return _score(matched, targets, truth, coverage, conf, min_area_m2), matched.found


class _Matched(NamedTuple):
    covered: np.ndarray  # per plot: on examined ground
    matches: dict[int, int]  # target index -> index among the covered plots
    found: np.ndarray  # per plot: a target took it (IoU matching)
    found_rule: np.ndarray  # per plot: found by the centroid/overlap rule
    finds_large: dict[float, np.ndarray]  # min area -> per target: finds a plot that big


def _match(targets, confs, truth: TruthPlots, coverage, match_iou: float,
           min_areas_m2: Sequence[float] = (0.0,)) -> _Matched:
    covered = covered_plots(truth, coverage)
    index = np.flatnonzero(covered)
    pairs = _pairs(targets, truth.geometries[covered])
    matches = _greedy(pairs, confs, match_iou)
    found = np.zeros(len(truth), dtype=bool)
    found[index[list(matches.values())]] = True
    found_rule = np.zeros(len(truth), dtype=bool)
    found_rule[index[pairs.plot[pairs.finds]]] = True
    finds_large = {}
    for least in min_areas_m2:
        on = pairs.finds & (truth.areas_m2[index[pairs.plot]] >= least)
        finds_large[least] = np.isin(np.arange(len(targets)), pairs.target[on])
    return _Matched(covered, matches, found, found_rule, finds_large)


def _score(matched: _Matched, targets, truth: TruthPlots, coverage, conf: float,
           min_area_m2: float) -> PlotScore:
    covered, matches, found, found_rule, finds_large = matched
    large = truth.areas_m2 >= min_area_m2
    n = len(targets)
    target_areas = shapely.area(np.asarray(targets, dtype=object)) if n else np.zeros(0)
    plot_of = np.full(n, -1)  # index in truth of the plot each target matched, -1: none
    plot_of[list(matches)] = np.flatnonzero(covered)[list(matches.values())]
    matched_small = (plot_of >= 0) & ~large[np.maximum(plot_of, 0)] if len(truth) else plot_of >= 0
    small_false = (plot_of < 0) & (target_areas < min_area_m2)
    counted = ~(matched_small | small_false)  # COCO's area range: the rest is ignored
    return PlotScore(float(conf), int((covered & large).sum()), int(counted.sum()),
                     int((found & large).sum()), float(shapely.area(coverage)) / 1e6,
                     int((found_rule & covered & large).sum()),
                     int((finds_large[min_area_m2] & counted).sum()))


def score_clusters(
    clusters: Sequence[Cluster], truth: TruthPlots, coverage, *, conf: float, match_iou: float,
    min_area_m2: float,
) -> tuple[PlotScore, PlotScore | None, np.ndarray]:
    """All-plot and (``min_area_m2`` > 0) large-plot scores of ``clusters`` from one matching.

    Also returns each plot's found flag.
    """
    polygons, scores = [c.polygon for c in clusters], [c.conf for c in clusters]
    matched = _match(polygons, scores, truth, coverage, match_iou, (0.0, min_area_m2))
    large = _score(matched, polygons, truth, coverage, conf, min_area_m2) if min_area_m2 > 0 else None
    return _score(matched, polygons, truth, coverage, conf, 0.0), large, matched.found


def score_by_class(
    clusters: Sequence[Cluster], class_names: Sequence[str], truth: TruthPlots, coverage, *,
    conf: float, match_iou: float = DEFAULT_MATCH_IOU,
) -> dict[str, PlotScore]:
    """Scores of each class alone: its targets (by :attr:`Cluster.cls`) against its plots.

    Classes are the model's ``class_names`` and then any other class named in
    ``truth``; with no classes in ``truth``, nothing (plots of no class cannot
    be told apart).
    """
    if not truth.classes:
        return {}
    names = [*class_names, *sorted(set(truth.class_names) - set(class_names))]
    out = {}
    for index, name in enumerate(names):
        mine = [c for c in clusters if c.cls == index and index < len(class_names)]
        out[name], _ = score_targets([c.polygon for c in mine], [c.conf for c in mine],
                                     truth.of_class(name), coverage, conf=conf, match_iou=match_iou)
    return out


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
    match_iou: float = DEFAULT_MATCH_IOU,
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
    return result, join_truths(truths, crs)


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
