"""Thresholds picked where the model will be used: a new bundle with a labelled flight's conf and merge rule.

The card's conf and merge rule were picked on the training project's imagery;
on another site the best threshold can be far lower. :func:`calibrate` runs the
model once on a labelled flight, scores every (merge rule, conf) pair
(:mod:`poppyscan.train.tuning`), picks one by a stated rule and writes a *new*
bundle: the same weights, a card whose ``model_id`` says it was calibrated
(``<parent id>-cal-<hash of the picked settings and the files>``) and whose
``calibration`` section records what was picked, by which rule, on which files
(names and sha256) and from which parent. Reports from the two bundles can
always be told apart.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from poppyscan.detect.bundle import ModelBundle, write_bundle
from poppyscan.detect.merge import MERGE_RULES
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError
from poppyscan.provenance import sha256_file
from poppyscan.train.evaluate import (
    EVALUATION_RUNTIME,
    card_settings,
    detect_with_truth,
    evaluate_detections,
)
from poppyscan.train.report import EvaluationReport
from poppyscan.train.scoring import DEFAULT_MATCH_IOU, HEADLINE_MIN_AREA_M2
from poppyscan.train.tuning import (
    PICK_RULES,
    RECALL_FLOOR,
    TUNE_SWEEP,
    ThresholdChoice,
    pick_thresholds,
    sweep_merge_rules,
    threshold_choices,
)

__all__ = ["Calibration", "calibrate", "calibrated_card"]

# Card sections that score the parent at its own thresholds: kept, under the calibration.
PARENT_SCORES = ("heldout", "thresholds_picked_on", "compared_on_heldout")


@dataclass
class Calibration:
    """A calibrated bundle, the pair picked, every pair's sweep and the scores at the pick."""

    bundle: ModelBundle
    picked: ThresholdChoice
    sweeps: dict[str, list[dict[str, Any]]]
    report: EvaluationReport  # on the flight the pair was picked on: optimistic


def calibrate(
    bundle: ModelBundle,
    orthos: Sequence[str | os.PathLike],
    labels: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    rule: str = "best-f1",
    recall_floor: float = RECALL_FLOOR,
    match_iou: float = DEFAULT_MATCH_IOU,
    min_area_m2: float = HEADLINE_MIN_AREA_M2,
    merge_rules: Sequence[str] = MERGE_RULES,
    confs: Sequence[float] = TUNE_SWEEP,
    runtime: Runtime = EVALUATION_RUNTIME,
    bands: Sequence[int] | None = None,
    overwrite: bool = False,
) -> Calibration:
    """Pick conf and merge rule on labelled ``orthos`` by ``rule``; write the new bundle to ``out_dir``.

    ``rule``: ``best-f1`` or ``recall-floor`` (the most precise pair with
    recall >= ``recall_floor``), on plots of at least ``min_area_m2`` (0: all)
    matched at ``match_iou``. Every rule of ``merge_rules`` is tried at each of
    ``confs``, from one detection run at the lowest of them.
    """
    if rule not in PICK_RULES:
        raise ConfigError(f"pick rule {rule!r} is not one of {', '.join(PICK_RULES)}")
    out_dir = Path(out_dir)
    if out_dir.resolve() == bundle.path.resolve():
        raise ConfigError(f"{out_dir}: is the model being calibrated; write the new bundle elsewhere")
    if (out_dir / "card.yaml").exists() and not overwrite:
        raise ConfigError(f"{out_dir}: already holds a model bundle; pass overwrite=True / --overwrite")
    files = _file_records(orthos, labels)  # missing files fail before any work
    result, truth = detect_with_truth(bundle, orthos, labels, runtime=runtime, conf=min(confs),
                                      bands=bands)
    sweeps = sweep_merge_rules(result, truth, [bundle.merge_settings(r) for r in merge_rules],
                               confs, match_iou=match_iou, min_area_m2=min_area_m2)
    picked = pick_thresholds(threshold_choices(sweeps, min_area_m2=min_area_m2), rule=rule,
                             recall_floor=recall_floor)
    how = {"rule": rule, **({"recall_floor": recall_floor} if rule == "recall-floor" else {}),
           "match_iou": match_iou, "min_area_m2": float(min_area_m2)}
    card = calibrated_card(bundle, picked, how, files)
    new = write_bundle(out_dir, bundle.weights_path, card)
    report = evaluate_detections(result, truth, conf=picked.conf, model_id=new.model_id,
                                 merge=new.merge_settings(), match_iou=match_iou, sweep=(),
                                 min_area_m2=min_area_m2, class_names=new.classes,
                                 card=card_settings(new))
    return Calibration(new, picked, sweeps, report)


def calibrated_card(bundle: ModelBundle, picked: ThresholdChoice, how: dict[str, Any],
                    files: list[dict[str, str]]) -> dict[str, Any]:
    """The parent's card with the picked conf and merge rule, a new model id and the record."""
    card = copy.deepcopy(bundle.card)
    parent_scores = {k: card.pop(k) for k in PARENT_SCORES if k in card}
    base = str(card.get("calibration", {}).get("base_model_id", bundle.model_id))
    settings = {"conf": picked.conf, "merge_rule": picked.merge_rule}
    digest = hashlib.sha256(json.dumps({"parent": bundle.model_id, **settings, **how,
                                        "files": files}, sort_keys=True).encode()).hexdigest()
    card["model_id"] = f"{base}-cal-{digest[:8]}"
    card["thresholds"] = {**card["thresholds"], **settings}
    card["calibration"] = {
        "parent_model_id": bundle.model_id,
        "parent_sha256": bundle.card["weights"]["sha256"],
        "base_model_id": base,
        "picked": settings,
        "by": how,
        "scores_at_pick": {k: v for k, v in picked.to_dict().items()
                           if k in ("recall", "precision", "f1")},
        "parent_thresholds": {k: bundle.thresholds.get(k) for k in ("conf", "merge_rule")},
        "files": files,
        "calibrated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "note": "scores at the pick are on the files it was picked on: optimistic; "
                "evaluate on other flights",
        **({"parent_scores": parent_scores} if parent_scores else {}),
    }
    return card


def _file_records(orthos, labels) -> list[dict[str, str]]:
    """Name, role and sha256 of each input (a folder of labels: the hash of its files' hashes)."""
    if not orthos or not labels:
        raise ConfigError("calibration needs orthomosaics and their labels")
    out = []
    for role, paths in (("ortho", orthos), ("labels", labels)):
        for path in map(Path, paths):
            if not path.exists():
                raise ConfigError(f"{path}: no such file")
            out.append({"role": role, "name": path.name, "sha256": _digest(path)})
    return out


def _digest(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    lines = [f"{p.relative_to(path).as_posix()} {sha256_file(p)}"
             for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
