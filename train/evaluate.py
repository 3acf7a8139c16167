"""Score a model bundle the way field crews meet it: whole orthomosaics in, targets out.

The real detection pipeline runs on each whole orthomosaic (same grid, reader,
merge as ``poppyscan detect``), then targets are matched to the ground-truth
plots one to one by IoU (the rules: :mod:`poppyscan.train.scoring`).

Reported: plot-level recall, precision and F1 (also for plots of 20 m2 or
more alone, and per class for models of several classes), plots found by the
centroid/overlap rule, false targets per km2 of ground examined, recall by
plot size and growth stage, a confidence sweep (from the same raw detections,
re-merged per threshold), the settings used where they are not the card's and,
given the dataset, mAP on its test chips
(:mod:`poppyscan.train.chip_map`). The parts live in :mod:`~poppyscan.train.truth`,
:mod:`~poppyscan.train.scoring` and :mod:`~poppyscan.train.report`; their
public names are importable from here too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from poppyscan.detect.bundle import ModelBundle, load_bundle
from poppyscan.detect.merge import DEFAULT_MERGE, MergeSettings
from poppyscan.detect.pipeline import DetectionResult, run_detection
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError
from poppyscan.train.chip_map import chip_map
from poppyscan.train.labels import LabelSet
from poppyscan.train.report import EvaluationReport
from poppyscan.train.scoring import (
    DEFAULT_MATCH_IOU,
    DEFAULT_SWEEP,
    HEADLINE_MIN_AREA_M2,
    MIN_COVERED_FRAC,
    SIZE_BINS_M2,
    PlotScore,
    covered_plots,
    match_targets,
    recall_by_size,
    recall_by_stage,
    score_by_class,
    score_clusters,
    score_targets,
    sweep_conf,
    targets_at,
)
from poppyscan.train.truth import TruthPlots, read_truth

__all__ = [
    "DEFAULT_MATCH_IOU",
    "DEFAULT_SWEEP",
    "EVALUATION_RUNTIME",
    "HEADLINE_MIN_AREA_M2",
    "MIN_COVERED_FRAC",
    "SIZE_BINS_M2",
    "EvaluationReport",
    "PlotScore",
    "TruthPlots",
    "read_truth",
    "score_targets",
    "sweep_conf",
    "detect_with_truth",
    "evaluate_detections",
    "evaluate",
    "chip_map",
    "card_settings",
    "match_targets",
]

# How evaluations run unless told: two reader threads, batches of 8, the fastest backend.
EVALUATION_RUNTIME = Runtime(workers=2)


def card_settings(bundle: ModelBundle) -> dict[str, Any]:
    """The card's conf and merge rule, as reports record the settings used."""
    return {"conf": bundle.conf, "merge_rule": bundle.merge_settings().spec(bundle.classes)}


def evaluate_detections(
    result: DetectionResult,
    truth: TruthPlots,
    *,
    conf: float,
    model_id: str = "",
    merge: MergeSettings = DEFAULT_MERGE,
    match_iou: float = DEFAULT_MATCH_IOU,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
    class_names: Sequence[str] = (),
    card: Mapping[str, Any] | None = None,
) -> EvaluationReport:
    """Score a finished detection run (see :func:`evaluate`, which runs it).

    ``class_names``: the model's classes; with several, each gets its own
    scores. ``card``: the card's settings (:func:`card_settings`), so the
    report says which ones this evaluation changed.
    """
    if not 0 < match_iou <= 1:
        raise ConfigError(f"match_iou={match_iou!r} must be in (0, 1]")
    truth = truth.to_crs(result.crs)
    clusters = targets_at(result.detections, conf, merge)
    score, large, found = score_clusters(clusters, truth, result.coverage, conf=conf,
                                         match_iou=match_iou, min_area_m2=min_area_m2)
    covered = covered_plots(truth, result.coverage)
    rows = sweep_conf(result, truth, sweep, merge=merge,
                      match_iou=match_iou, min_area_m2=min_area_m2) if sweep else []
    by_class = score_by_class(clusters, class_names, truth, result.coverage, conf=conf,
                              match_iou=match_iou) if len(class_names) > 1 else {}
    settings = {"conf": float(conf),
                "merge_rule": merge.spec(class_names) if class_names else merge.rule}
    return EvaluationReport(
        model_id, [Path(i.path).name for i in result.infos], result.crs.to_string(), match_iou,
        score, len(truth), recall_by_size(found, covered, truth),
        recall_by_stage(found, covered, truth), rows, None, dict(result.timings_s),
        min_area_m2=float(min_area_m2), score_min_area=large, by_class=by_class,
        settings=settings, card_settings=dict(card or {}),
    )


def detect_with_truth(
    bundle: ModelBundle,
    orthos: Sequence[str | os.PathLike],
    truth: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    *,
    runtime: Runtime = EVALUATION_RUNTIME,
    conf: float | None = None,
    merge: MergeSettings | None = None,
    bands: Sequence[int] | None = None,
) -> tuple[DetectionResult, TruthPlots]:
    """Run the bundle's pipeline once on ``orthos`` (as ``runtime`` says) and read ``truth`` in
    the run's CRS.

    ``conf`` (0-1, default: the card's): run at the lowest threshold to be
    scored; higher ones are re-merged from the same detections
    (:func:`~poppyscan.train.scoring.sweep_conf`, tuning, mining). ``merge``
    (default: the card's) makes the result's clusters.
    """
    if not orthos:
        raise ConfigError("no orthomosaics given; pass at least one")
    predictor = bundle.predictor(runtime.device, conf=conf, backend=runtime.backend,
                                 precision=runtime.precision)
    result = run_detection([str(o) for o in orthos], predictor, bundle.grid, runtime=runtime,
                           merge=merge or bundle.merge_settings(), bands=bands)
    return result, read_truth(truth, crs=result.crs)


def evaluate(
    bundle: ModelBundle | str | os.PathLike | None,
    orthos: Sequence[str | os.PathLike],
    truth: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    *,
    runtime: Runtime = EVALUATION_RUNTIME,
    conf: float | None = None,
    merge: str | Mapping[str, str] | None = None,
    match_iou: float = DEFAULT_MATCH_IOU,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    data_dir: str | os.PathLike | None = None,
    bands: Sequence[int] | None = None,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
) -> EvaluationReport:
    """Run the bundle's detection pipeline on whole ``orthos`` and score it against ``truth``.

    ``bundle``: a loaded bundle or its folder (None: the bundled demo model).
    ``conf`` (0-1): threshold for the headline scores (default: the card's).
    ``merge``: merge rule, or ``{class: rule}`` (default: the card's). Both
    are recorded in the report where they differ from the card. ``match_iou``
    (0-1]: IoU for a target to match a plot [configs/evaluate.yaml: 0.4].
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
    merge_settings = bundle.merge_settings(merge)
    result, plots = detect_with_truth(bundle, orthos, truth, runtime=runtime,
                                      conf=min([conf, *sweep]), merge=merge_settings, bands=bands)
    report = evaluate_detections(result, plots, conf=conf, model_id=bundle.model_id,
                                 merge=merge_settings, match_iou=match_iou, sweep=sweep,
                                 min_area_m2=min_area_m2, class_names=bundle.classes,
                                 card=card_settings(bundle))
    if data_dir is not None:
        report.chip_metrics = chip_map(bundle, data_dir, device=runtime.device,
                                       batch_size=runtime.batch_size)
    return report
