"""Picking a card's thresholds: every (merge rule, conf) pair scored from one detection run.

Detect once at ``LOW_CONF`` (:func:`poppyscan.train.evaluate.detect_with_truth`);
each higher threshold is the same detections filtered and re-merged
(:func:`poppyscan.train.scoring.sweep_conf`), so trying five merge rules at
seventeen thresholds costs one pass of the model. :func:`pick_thresholds` then
applies a stated rule (:data:`PICK_RULES`) to the scores of plots of at least
``min_area_m2`` (IoU matching at ``match_iou``):

``recall-floor``
    The most precise pair whose recall reaches the floor (default 0.90): a
    missed plot costs more than a wasted walk. Without such a pair, the best F1.
``best-f1``
    The pair of best F1 (ties: the higher recall, the higher precision, then the
    higher conf).

Pick on imagery like the one the model will be used on, and score on other
imagery: scores on the flight the thresholds were picked on are optimistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from poppyscan.config import defaults
from poppyscan.detect.merge import MergeSettings
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.errors import ConfigError
from poppyscan.train.scoring import DEFAULT_MATCH_IOU, HEADLINE_MIN_AREA_M2, sweep_conf
from poppyscan.train.truth import TruthPlots

__all__ = ["LOW_CONF", "PICK_RULES", "RECALL_FLOOR", "TUNE_SWEEP", "ThresholdChoice",
           "pick_thresholds", "sweep_merge_rules", "threshold_choices"]

LOW_CONF = 0.01  # detect once at this threshold; higher ones are re-merged from it
# 0.01-0.04, then 0.05-0.85 by 0.05: on imagery unlike the training data the best threshold
# can be very low.
TUNE_SWEEP = (0.01, 0.02, 0.03, 0.04, *(round(0.05 * k, 2) for k in range(1, 18)))
RECALL_FLOOR = float(defaults("evaluate")["recall_floor"])
PICK_RULES = ("best-f1", "recall-floor")


@dataclass(frozen=True)
class ThresholdChoice:
    """One (merge rule, conf) pair and its scores on plots of at least ``min_area_m2`` (None: no
    plot or no target to score)."""

    merge_rule: str
    conf: float
    recall: float | None
    precision: float | None
    f1: float | None
    min_area_m2: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep_merge_rules(
    result: DetectionResult,
    truth: TruthPlots,
    merges: Sequence[MergeSettings],
    confs: Sequence[float] = TUNE_SWEEP,
    *,
    match_iou: float = DEFAULT_MATCH_IOU,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
) -> dict[str, list[dict[str, Any]]]:
    """Each merge rule's :func:`~poppyscan.train.scoring.sweep_conf` rows over ``confs``.

    ``result`` must come from a run at or below the lowest of ``confs``; with
    ``min_area_m2`` > 0 rows carry ``min_area`` scores for plots at least that
    big. Build ``merges`` with ``bundle.merge_settings(rule)`` so each rule
    keeps the card's options.
    """
    rules = [m.rule for m in merges]
    if not rules or len(set(rules)) != len(rules):
        raise ConfigError(f"merge settings {rules} must name each rule once, at least one")
    truth = truth.to_crs(result.crs)
    return {m.rule: sweep_conf(result, truth, confs, merge=m, match_iou=match_iou,
                               min_area_m2=min_area_m2) for m in merges}


def threshold_choices(
    sweeps: Mapping[str, Sequence[dict[str, Any]]], *, min_area_m2: float = HEADLINE_MIN_AREA_M2
) -> list[ThresholdChoice]:
    """Every (merge rule, conf) pair of :func:`sweep_merge_rules`' rows, in their order.

    Scores are the rows' ``min_area`` ones when ``min_area_m2`` > 0 (the sweep's
    ``min_area_m2`` must be the same), else the all-plot ones.
    """
    out = []
    for rule, rows in sweeps.items():
        for row in rows:
            scores = row["min_area"] if min_area_m2 > 0 else row
            out.append(ThresholdChoice(rule, row["conf"], scores["recall"], scores["precision"],
                                       scores["f1"], float(min_area_m2)))
    return out


def pick_thresholds(
    choices: Sequence[ThresholdChoice], *, rule: str = "recall-floor",
    recall_floor: float = RECALL_FLOOR,
) -> ThresholdChoice:
    """The pair ``rule`` picks (see the module doc); ``recall_floor`` in [0, 1] [0.90].

    ``recall-floor`` ties go to the higher recall, then the higher conf; ties
    left after either rule go to the first in ``choices``; a score of None counts as 0.

    >>> pick_thresholds([ThresholdChoice("union", 0.3, 0.95, 0.60, 0.74),
    ...                  ThresholdChoice("union", 0.5, 0.91, 0.80, 0.85),
    ...                  ThresholdChoice("nms", 0.6, 0.85, 0.90, 0.87)]).conf
    0.5
    >>> pick_thresholds([ThresholdChoice("union", 0.5, 0.91, 0.80, 0.85),
    ...                  ThresholdChoice("nms", 0.6, 0.85, 0.90, 0.87)], rule="best-f1").conf
    0.6
    """
    if rule not in PICK_RULES:
        raise ConfigError(f"pick rule {rule!r} is not one of {', '.join(PICK_RULES)}")
    if not choices:
        raise ConfigError("no (merge rule, conf) pairs to pick thresholds from")
    if not 0 <= recall_floor <= 1:
        raise ConfigError(f"recall_floor={recall_floor!r} must be in [0, 1]")
    if rule == "recall-floor":
        floor = [c for c in choices if (c.recall or 0) >= recall_floor]
        if floor:
            return max(floor, key=lambda c: (c.precision or 0, c.recall, c.conf))
    return max(choices, key=lambda c: (c.f1 or 0, c.recall or 0, c.precision or 0, c.conf))
