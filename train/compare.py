"""Two or more models on the same labelled flights, one table side by side.

Each model runs once (at its card's conf and merge rule); its targets are then
scored at every IoU of ``match_ious`` from that one run, so an analyst can tell
whether a retrain beats the model in use before shipping it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.bundle import ModelBundle
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError
from poppyscan.train.evaluate import EVALUATION_RUNTIME, detect_with_truth
from poppyscan.train.report import number_text, rule_text
from poppyscan.train.scoring import PlotScore, score_clusters, targets_at

__all__ = ["COMPARE_IOUS", "ModelComparison", "compare_models"]

COMPARE_IOUS = (0.4, 0.5)


@dataclass
class ModelComparison:
    """Per model: its settings and its scores at each IoU (``scores[model_id][iou]``)."""

    orthos: list[str]
    match_ious: tuple[float, ...]
    models: list[dict[str, Any]] = field(default_factory=list)  # model_id, path, conf, merge_rule
    scores: dict[str, dict[float, PlotScore]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"orthos": self.orthos, "match_ious": list(self.match_ious),
                "models": [{**m, "scores": {f"iou_{iou:g}": self.scores[m["model_id"]][iou].to_dict()
                                            for iou in self.match_ious}} for m in self.models]}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The comparison as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def table_text(self) -> str:
        """One row per measure, one column per model."""
        ids = [m["model_id"] for m in self.models]
        rows: list[tuple[str, list[str]]] = [
            ("conf", [f"{m['conf']:g}" for m in self.models]),
            ("merge", [rule_text(m["merge_rule"]) for m in self.models]),
        ]
        first = {i: self.scores[i][self.match_ious[0]] for i in ids}
        rows += [("plots on examined ground", [str(first[i].n_plots) for i in ids]),
                 ("targets", [str(first[i].n_targets) for i in ids])]
        for iou in self.match_ious:
            at = {i: self.scores[i][iou] for i in ids}
            rows += [(f"precision, IoU >= {iou:g}", [number_text(at[i].precision) for i in ids]),
                     (f"recall, IoU >= {iou:g}", [number_text(at[i].recall) for i in ids]),
                     (f"F1, IoU >= {iou:g}", [number_text(at[i].f1) for i in ids]),
                     (f"false targets/km2, IoU >= {iou:g}",
                      [number_text(at[i].false_per_km2, 1) for i in ids])]
        rows.append(("plots found (centroid/overlap rule)",
                     [f"{first[i].plots_found}/{first[i].n_plots}" for i in ids]))
        width = max(len(name) for name, _ in rows)
        cols = [max(len(i), *(len(cells[k]) for _, cells in rows)) for k, i in enumerate(ids)]
        lines = [f"Models on {len(self.orthos)} orthomosaic(s), "
                 f"{first[ids[0]].area_km2:.4f} km2 examined",
                 " " * width + "  " + "  ".join(i.ljust(c) for i, c in zip(ids, cols, strict=True))]
        lines += [name.ljust(width) + "  " + "  ".join(v.ljust(c) for v, c in zip(cells, cols,
                                                                                   strict=True))
                  for name, cells in rows]
        return "\n".join(line.rstrip() for line in lines) + "\n"


def compare_models(
    bundles: Sequence[ModelBundle],
    orthos: Sequence[str | os.PathLike],
    labels: Sequence[str | os.PathLike],
    *,
    match_ious: Sequence[float] = COMPARE_IOUS,
    runtime: Runtime = EVALUATION_RUNTIME,
    bands: Sequence[int] | None = None,
) -> ModelComparison:
    """Run each of ``bundles`` once on ``orthos`` and score it against ``labels`` at ``match_ious``."""
    if len(bundles) < 2:
        raise ConfigError("compare needs at least two models")
    ids = [b.model_id for b in bundles]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"models {ids} repeat a model id; compare different models")
    if not match_ious or not all(0 < iou <= 1 for iou in match_ious):
        raise ConfigError(f"match IoUs {list(match_ious)} must each be in (0, 1]")
    out = ModelComparison([Path(o).name for o in orthos], tuple(float(i) for i in match_ious))
    for bundle in bundles:
        merge = bundle.merge_settings()
        result, truth = detect_with_truth(bundle, orthos, labels, runtime=runtime, merge=merge,
                                          bands=bands)
        clusters = targets_at(result.detections, bundle.conf, merge)
        out.models.append({"model_id": bundle.model_id, "path": str(bundle.path),
                           "conf": bundle.conf, "merge_rule": merge.spec(bundle.classes)})
        out.scores[bundle.model_id] = {
            iou: score_clusters(clusters, truth, result.coverage, conf=bundle.conf,
                                match_iou=iou, min_area_m2=0.0)[0]
            for iou in out.match_ious}
    return out

