"""Picking a card's thresholds: every (merge rule, conf) pair scored from one detection run.

Detect once at ``LOW_CONF`` (:func:`poppyscan.train.evaluate.detect_with_truth`);
each higher threshold is the same detections filtered and re-merged
(:func:`poppyscan.train.scoring.sweep_conf`), so trying four merge rules at
seventeen thresholds costs one pass of the model. :func:`pick_thresholds` then
applies the rule: a missed plot costs more than a wasted walk, so recall on
plots of ``HEADLINE_MIN_AREA_M2`` (20 m2) or more comes first.
Pick on surveys that are neither trained nor scored on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from poppyscan.detect.merge import MergeSettings
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.tiles.errors import ConfigError
from poppyscan.train.scoring import HEADLINE_MIN_AREA_M2, sweep_conf
from poppyscan.train.truth import TruthPlots

__all__ = ["LOW_CONF", "RECALL_FLOOR", "TUNE_SWEEP", "ThresholdChoice", "pick_thresholds",
           "sweep_merge_rules", "threshold_choices"]

LOW_CONF = 0.05  # detect once at this threshold; higher ones are re-merged from it
TUNE_SWEEP = tuple(round(0.05 * k, 2) for k in range(1, 18))  # 0.05-0.85
RECALL_FLOOR = 0.90  # the target recall on plots of 20 m2 or more


@dataclass(frozen=True)
class ThresholdChoice:
    """One (merge rule, conf) pair and its scores on plots of 20 m2 or more (None: no plot or
    no target to score)."""

    merge_rule: str
    conf: float
    recall_ge20: float | None
    precision_ge20: float | None
    f1_ge20: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep_merge_rules(
    result: DetectionResult,
    truth: TruthPlots,
    merges: Sequence[MergeSettings],
    confs: Sequence[float] = TUNE_SWEEP,
    *,
    match_iou: float = 0.1,
) -> dict[str, list[dict[str, Any]]]:
    """Each merge rule's :func:`~poppyscan.train.scoring.sweep_conf` rows over ``confs``.

    ``result`` must come from a run at or below the lowest of ``confs``; rows
    carry ``min_area`` scores for plots of ``HEADLINE_MIN_AREA_M2`` or more.
    Build ``merges`` with ``bundle.merge_settings(rule)`` so each rule keeps
    the card's options.
    """
    rules = [m.rule for m in merges]
    if not rules or len(set(rules)) != len(rules):
        raise ConfigError(f"merge settings {rules} must name each rule once, at least one")
    truth = truth.to_crs(result.crs)
    return {m.rule: sweep_conf(result, truth, confs, merge=m, match_iou=match_iou,
                               min_area_m2=HEADLINE_MIN_AREA_M2) for m in merges}


def threshold_choices(sweeps: Mapping[str, Sequence[dict[str, Any]]]) -> list[ThresholdChoice]:
    """Every (merge rule, conf) pair of :func:`sweep_merge_rules`' rows, in their order."""
    return [ThresholdChoice(rule, row["conf"], row["min_area"]["recall"],
                            row["min_area"]["precision"], row["min_area"]["f1"])
            for rule, rows in sweeps.items() for row in rows]


def pick_thresholds(
    choices: Sequence[ThresholdChoice], *, recall_floor: float = RECALL_FLOOR
) -> ThresholdChoice:
    """The most precise pair whose recall on plots >= 20 m2 reaches ``recall_floor`` [0.90].

    Ties go to the higher recall, then the higher conf. When no pair reaches
    the floor: the best F1, then the higher recall. Ties left after that go to
    the first in ``choices``; a score of None counts as 0.

    >>> pick_thresholds([ThresholdChoice("union", 0.3, 0.95, 0.60, 0.74),
    ...                  ThresholdChoice("union", 0.5, 0.91, 0.80, 0.85),
    ...                  ThresholdChoice("nms", 0.6, 0.85, 0.90, 0.87)]).conf
    0.5
    """
    if not choices:
        raise ConfigError("no (merge rule, conf) pairs to pick thresholds from")
    if not 0 <= recall_floor <= 1:
        raise ConfigError(f"recall_floor={recall_floor!r} must be in [0, 1]")
    floor = [c for c in choices if (c.recall_ge20 or 0) >= recall_floor]
    if floor:
        return max(floor, key=lambda c: (c.precision_ge20 or 0, c.recall_ge20, c.conf))
    return max(choices, key=lambda c: (c.f1_ge20 or 0, c.recall_ge20 or 0))
