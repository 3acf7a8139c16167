"""The evaluation report: plot-level scores of one model, as JSON and as terminal text."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from poppyscan.atomic import atomic_write_text
from poppyscan.train.scoring import PlotScore

__all__ = ["EvaluationReport", "number_text", "rule_text", "sweep_table"]


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
    by_class: dict[str, PlotScore] = field(default_factory=dict)  # models of several classes
    settings: dict[str, Any] = field(default_factory=dict)  # conf and merge rule used
    card_settings: dict[str, Any] = field(default_factory=dict)  # the card's conf and merge rule

    @property
    def differs_from_card(self) -> dict[str, dict[str, Any]]:
        """Settings used that are not the card's: ``{key: {"used": ..., "card": ...}}``."""
        return {k: {"used": v, "card": self.card_settings.get(k)} for k, v in self.settings.items()
                if k in self.card_settings and v != self.card_settings[k]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "orthos": self.orthos, "crs": self.crs,
            "match_rule": f"one to one by IoU >= {self.match_iou:g} (COCO's greedy rule, most "
                          "confident target first)",
            "find_rule": "plots found (centroid/overlap rule): a target overlaps the plot or has "
                         "its centroid in it; not one to one",
            "settings": self.settings, "differs_from_card": self.differs_from_card,
            **self.score.to_dict(),
            "min_area_m2": self.min_area_m2,
            "min_area": self.score_min_area.to_dict() if self.score_min_area else None,
            "plots_outside_coverage": self.n_plots_total - self.score.n_plots,
            "recall_by_size_m2": self.recall_by_size, "recall_by_stage": self.recall_by_stage,
            "by_class": {name: score.to_dict() for name, score in self.by_class.items()},
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
        merge = self.settings.get("merge_rule")
        lines = [
            f"Model {self.model_id} at conf {s.conf:g}"
            + (f", merge {rule_text(merge)}" if merge else "")
            + f" on {len(self.orthos)} orthomosaic(s), {s.area_km2:.4f} km2 examined",
        ]
        if self.differs_from_card:
            lines.append("Settings not the model card's: " + "; ".join(
                f"{'merge' if k == 'merge_rule' else k} {rule_text(v['used'])} (card {rule_text(v['card'])})"
                for k, v in self.differs_from_card.items()))
        lines += [
            f"Plots: {s.n_plots} on examined ground ({self.n_plots_total - s.n_plots} outside); "
            f"targets: {s.n_targets}",
            f"Matched one to one at IoU >= {self.match_iou:g}: "
            f"Recall {_pct(s.recall)} ({s.true_targets}/{s.n_plots})   "
            f"Precision {_pct(s.precision)} ({s.true_targets}/{s.n_targets})   F1 {number_text(s.f1)}",
            f"False targets: {s.false_targets} ({number_text(s.false_per_km2, 1)} per km2)",
            f"Plots found (centroid/overlap rule): {_pct(s.found_recall)} "
            f"({s.plots_found}/{s.n_plots}); targets on a plot: {_pct(s.on_plot_share)} "
            f"({s.targets_on_plots}/{s.n_targets})",
        ]
        if self.score_min_area is not None:
            big = self.score_min_area
            lines.append(
                f"Plots of {self.min_area_m2:g} m2 or more: Recall {_pct(big.recall)} "
                f"({big.true_targets}/{big.n_plots})   Precision {_pct(big.precision)} "
                f"({big.true_targets}/{big.n_targets})"
            )
        for name, score in self.by_class.items():
            lines.append(
                f"Class {name}: Recall {_pct(score.recall)} ({score.true_targets}/{score.n_plots})"
                f"   Precision {_pct(score.precision)} ({score.true_targets}/{score.n_targets})"
                f"   F1 {number_text(score.f1)}")
        lines.append("Recall by plot size: " + _bins(self.recall_by_size, " m2"))
        if self.recall_by_stage:
            lines.append("Recall by stage: " + _bins(self.recall_by_stage, ""))
        if self.chip_metrics:
            m = self.chip_metrics
            lines.append(
                f"Test chips ({m['images']} images): mAP50 {number_text(m['mAP50'])}  "
                f"mAP50-95 {number_text(m['mAP50-95'])}  P {number_text(m['precision'])}  R {number_text(m['recall'])}"
            )
        if self.sweep:
            min_area_m2 = self.min_area_m2 if self.score_min_area else None
            lines += sweep_table(self.sweep, min_area_m2).splitlines()
        return "\n".join(lines) + "\n"


def sweep_table(rows: Sequence[dict[str, Any]], min_area_m2: float | None = None) -> str:
    """Rows of :func:`~poppyscan.train.scoring.sweep_conf` as a text table.

    With ``min_area_m2``, two more columns: precision and recall on plots of at
    least that area (the rows' ``min_area`` scores).
    """
    big = f"  P>={min_area_m2:g}  R>={min_area_m2:g}" if min_area_m2 is not None else ""
    lines = ["conf   precision  recall  F1     false/km2  targets" + big]
    for row in rows:
        line = (f"{row['conf']:<6g} {number_text(row['precision']):<10} {number_text(row['recall']):<7} "
                f"{number_text(row['f1']):<6} {number_text(row['false_per_km2'], 1):<10} "
                f"{row['n_targets']:<7}")
        if row.get("min_area"):
            line += f"  {number_text(row['min_area']['precision']):<5}  {number_text(row['min_area']['recall'])}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def rule_text(value: Any) -> str:
    """A setting as text: a number in short form, a per-class merge rule as ``class=rule,...``."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def number_text(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals, or n/a."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _bins(bins: dict[str, dict[str, Any]], unit: str) -> str:
    return "  ".join(
        f"{name}{unit} {_pct(b['recall'])} ({b['found']}/{b['plots']})" for name, b in bins.items()
    )
