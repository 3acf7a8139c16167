"""Score a model bundle the way field crews meet it: whole orthomosaics in, targets out.

The real detection pipeline runs on each whole orthomosaic (same grid, reader,
merge as ``poppyscan detect``), then targets are matched to the ground-truth
plots: a target *finds* a plot when their IoU is at least ``match_iou`` or the
target's centroid lies in the plot, one target per plot, most confident first.
A target that finds nothing is a false target: a wasted visit.

Reported: plot-level recall, precision and F1 (also for plots of 20 m2 or
more alone), false targets per km2 of ground examined, recall by plot size and
growth stage, a confidence sweep (from the
same raw detections, re-merged per threshold) and, given the dataset, mAP on
its test chips.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS

from poppyscan.detect.bundle import ModelBundle, load_bundle
from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import DEFAULT_MERGE, MergeSettings
from poppyscan.detect.pipeline import DetectionResult, run_detection
from poppyscan.tiles.atomic import atomic_write_text
from poppyscan.tiles.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.labels import LabelSet, detect_format, read_labels

__all__ = [
    "DEFAULT_SWEEP",
    "HEADLINE_MIN_AREA_M2",
    "SIZE_BINS_M2",
    "EvaluationReport",
    "PlotScore",
    "TruthPlots",
    "read_truth",
    "score_targets",
    "sweep_conf",
    "evaluate_detections",
    "evaluate",
    "chip_map",
    "match_targets",
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


def _covered(truth: TruthPlots, coverage) -> np.ndarray:
    """Plots with at least MIN_COVERED_FRAC of their area on examined ground."""
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
    covered = _covered(truth, coverage)
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


def _scores_at(clusters, truth: TruthPlots, coverage, *, conf: float, match_iou: float,
               min_area_m2: float) -> tuple[PlotScore, PlotScore | None, np.ndarray]:
    """All-plot and (``min_area_m2`` > 0) large-plot scores of ``clusters`` from one matching."""
    polygons, scores = [c.polygon for c in clusters], [c.conf for c in clusters]
    matched = _match(polygons, scores, truth, coverage, match_iou)
    large = _score(matched, polygons, truth, coverage, conf, min_area_m2) if min_area_m2 > 0 else None
    return _score(matched, polygons, truth, coverage, conf, 0.0), large, matched.found


def _clusters_at(detections: Sequence[Detection], conf: float, merge: MergeSettings):
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
        clusters = _clusters_at(result.detections, conf, merge)
        score, large, _ = _scores_at(clusters, truth, result.coverage, conf=conf,
                                     match_iou=match_iou, min_area_m2=min_area_m2)
        row = score.to_dict()
        if large is not None:
            row["min_area"] = large.to_dict()
        out.append(row)
    return out


@dataclass
class EvaluationReport:
    """Plot-level scores of one model on labelled orthomosaics."""

    model_id: str
    orthos: list[str]
    crs: str
    match_iou: float
    score: PlotScore
    n_plots_total: int
    recall_by_size: dict[str, dict[str, Any]]
    recall_by_stage: dict[str, dict[str, Any]]
    sweep: list[dict[str, Any]] = field(default_factory=list)
    chip_metrics: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    min_area_m2: float = 0.0
    score_min_area: PlotScore | None = None  # plots of at least min_area_m2 only

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "orthos": self.orthos, "crs": self.crs,
            "match_rule": f"IoU >= {self.match_iou:g} or target centroid in plot; one to one",
            **self.score.to_dict(),
            "min_area_m2": self.min_area_m2,
            "min_area": self.score_min_area.to_dict() if self.score_min_area else None,
            "plots_outside_coverage": self.n_plots_total - self.score.n_plots,
            "recall_by_size_m2": self.recall_by_size, "recall_by_stage": self.recall_by_stage,
            "sweep": self.sweep, "chip_metrics": self.chip_metrics, "timings_s": self.timings_s,
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def summary_text(self) -> str:
        """A readable summary for the terminal or a mission log."""
        s = self.score
        lines = [
            f"Model {self.model_id} at conf {s.conf:g} on {len(self.orthos)} orthomosaic(s), "
            f"{s.area_km2:.4f} km2 examined",
            f"Plots: {s.n_plots} on examined ground ({self.n_plots_total - s.n_plots} outside); "
            f"targets: {s.n_targets}",
            f"Recall {_pct(s.recall)} ({s.true_targets}/{s.n_plots})   "
            f"Precision {_pct(s.precision)} ({s.true_targets}/{s.n_targets})   F1 {_num(s.f1)}",
            f"False targets: {s.false_targets} ({_num(s.false_per_km2, 1)} per km2)",
        ]
        if self.score_min_area is not None:
            big = self.score_min_area
            lines.append(
                f"Plots of {self.min_area_m2:g} m2 or more: Recall {_pct(big.recall)} "
                f"({big.true_targets}/{big.n_plots})   Precision {_pct(big.precision)} "
                f"({big.true_targets}/{big.n_targets})"
            )
        lines.append("Recall by plot size: " + _bins(self.recall_by_size, " m2"))
        if self.recall_by_stage:
            lines.append("Recall by stage: " + _bins(self.recall_by_stage, ""))
        if self.chip_metrics:
            m = self.chip_metrics
            lines.append(
                f"Test chips ({m['images']} images): mAP50 {_num(m['mAP50'])}  "
                f"mAP50-95 {_num(m['mAP50-95'])}  P {_num(m['precision'])}  R {_num(m['recall'])}"
            )
        if self.sweep:
            big = f"  P>={self.min_area_m2:g}  R>={self.min_area_m2:g}" if self.score_min_area else ""
            lines.append("conf   precision  recall  F1     false/km2  targets" + big)
            for row in self.sweep:
                line = (f"{row['conf']:<6g} {_num(row['precision']):<10} {_num(row['recall']):<7} "
                        f"{_num(row['f1']):<6} {_num(row['false_per_km2'], 1):<10} "
                        f"{row['n_targets']:<7}")
                if row.get("min_area"):
                    line += f"  {_num(row['min_area']['precision']):<5}  {_num(row['min_area']['recall'])}"
                lines.append(line.rstrip())
        return "\n".join(lines) + "\n"


def evaluate_detections(
    result: DetectionResult,
    truth: TruthPlots,
    *,
    conf: float,
    model_id: str = "",
    merge: MergeSettings = DEFAULT_MERGE,
    match_iou: float = 0.1,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
) -> EvaluationReport:
    """Score a finished detection run (see :func:`evaluate`, which runs it)."""
    if not 0 < match_iou <= 1:
        raise ConfigError(f"match_iou={match_iou!r} must be in (0, 1]")
    if truth.crs != result.crs:
        truth = TruthPlots(
            reproject_geometry(truth.geometries, truth.crs, result.crs), truth.stages, result.crs,
            truth.source)
    clusters = _clusters_at(result.detections, conf, merge)
    score, large, found = _scores_at(clusters, truth, result.coverage, conf=conf,
                                     match_iou=match_iou, min_area_m2=min_area_m2)
    covered = _covered(truth, result.coverage)
    areas = truth.areas_m2
    by_size = {
        name: _recall(found[covered & (areas >= lo) & (areas < hi)]) for name, lo, hi in SIZE_BINS_M2
    }
    stages = np.array([s if s is not None else "" for s in truth.stages], dtype=object)
    by_stage = {
        str(stage): _recall(found[covered & (stages == stage)])
        for stage in sorted(set(stages[covered].tolist()) - {""})
    }
    rows = sweep_conf(result, truth, sweep, merge=merge,
                      match_iou=match_iou, min_area_m2=min_area_m2) if sweep else []
    return EvaluationReport(
        model_id, [Path(i.path).name for i in result.infos], result.crs.to_string(), match_iou,
        score, len(truth), by_size, by_stage, rows, None, dict(result.timings_s),
        min_area_m2=float(min_area_m2), score_min_area=large,
    )


def evaluate(
    bundle: ModelBundle | str | os.PathLike | None,
    orthos: Sequence[str | os.PathLike],
    truth: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    *,
    device: str | None = None,
    conf: float | None = None,
    match_iou: float = 0.1,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    workers: int = 2,
    bands: Sequence[int] | None = None,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
) -> EvaluationReport:
    """Run the bundle's detection pipeline on whole ``orthos`` and score it against ``truth``.

    ``bundle``: a loaded bundle or its folder (None: the bundled demo model).
    ``conf`` (0-1): threshold for the headline scores (default: the card's).
    ``sweep``: thresholds for the precision/recall table (empty: none); the
    model runs once at the lowest of them and ``conf``. ``data_dir``: a dataset
    built by :func:`train.dataset.build_dataset`; its test chips get mAP.
    ``min_area_m2``: plots this big or bigger also get their own scores (0: none).
    """
    bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
    conf = bundle.conf if conf is None else float(conf)
    if not 0 < conf < 1 or any(not 0 < c < 1 for c in sweep):
        raise ConfigError(f"conf={conf!r} and sweep {list(sweep)} must be in (0, 1)")
    if not orthos:
        raise ConfigError("no orthomosaics given; pass at least one")
    if not 0 < match_iou <= 1:
        raise ConfigError(f"match_iou={match_iou!r} must be in (0, 1]")
    merge = bundle.merge_settings()
    predictor = bundle.predictor(device, conf=min([conf, *sweep]))
    result = run_detection([str(o) for o in orthos], predictor, bundle.grid, batch_size=batch_size,
                           workers=workers, merge=merge, bands=bands)
    plots = read_truth(truth, crs=result.crs)
    report = evaluate_detections(result, plots, conf=conf, model_id=bundle.model_id, merge=merge,
                                 match_iou=match_iou, sweep=sweep,
                                 min_area_m2=min_area_m2)
    if data_dir is not None:
        report.chip_metrics = chip_map(bundle, data_dir, device=device, batch_size=batch_size)
    return report


def chip_map(
    bundle: ModelBundle, data_dir: str | os.PathLike, *, device: str | None = None,
    batch_size: int = 8, split: str = "test",
) -> dict[str, Any] | None:
    """mAP of the bundle on a dataset's ``split`` chips (Ultralytics val); None if it has none."""
    from poppyscan.train.dataset import load_summary
    from poppyscan.train.training import offline_ultralytics, ultralytics_device

    summary = load_summary(data_dir)
    images = int(summary.splits.get(split, {}).get("images", 0))
    if not images:
        return None
    if summary.tile_px != bundle.grid.tile_px or summary.gsd_m != bundle.grid.gsd_m:
        raise ConfigError(
            f"{data_dir}: chips are {summary.tile_px} px at {summary.gsd_m} m but the model "
            f"expects {bundle.grid.tile_px} px at {bundle.grid.gsd_m} m; rebuild the dataset"
        )
    from poppyscan.detect._ultralytics import configure_offline

    configure_offline()
    from ultralytics import YOLO

    dev = ultralytics_device(device)
    with offline_ultralytics(cuda=dev != "cpu"), _scratch_dir() as scratch:
        result = YOLO(str(bundle.weights_path), task="detect").val(
            data=str(summary.data_yaml.resolve()), split=split, imgsz=summary.tile_px,
            batch=batch_size, device=dev, workers=0, plots=False, verbose=False,
            project=scratch, name="val", exist_ok=True, conf=0.001,
            iou=float(bundle.thresholds.get("iou_nms", 0.5)),
        )
    box = result.box
    return {"split": split, "images": images, "precision": _round(float(box.mp)),
            "recall": _round(float(box.mr)), "mAP50": _round(float(box.map50)),
            "mAP50-95": _round(float(box.map))}


def _scratch_dir():
    import tempfile

    return tempfile.TemporaryDirectory(prefix="poppyscan-val-")


def _recall(found: np.ndarray) -> dict[str, Any]:
    n = int(len(found))
    hits = int(found.sum())
    return {"plots": n, "found": hits, "recall": _round(hits / n) if n else None}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _bins(bins: dict[str, dict[str, Any]], unit: str) -> str:
    return "  ".join(
        f"{name}{unit} {_pct(b['recall'])} ({b['found']}/{b['plots']})" for name, b in bins.items()
    )
