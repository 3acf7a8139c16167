"""The demo model's card edits: each takes a card and returns the new one (write it with
:func:`poppyscan.detect.bundle.update_card`); the weights are never touched.

>>> with_card_extras({"name": "m", "thresholds": {"conf": 0.3}, "training": {}},
...                  {"headline_min_area_m2": 20.0})
{'name': 'm', 'thresholds': {'conf': 0.3}, 'headline_min_area_m2': 20.0, 'training': {}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from poppyscan.detect.backends.precision import CHECKED, MAX_LOSS
from poppyscan.train.demo_recipe import DemoRecipe

__all__ = ["candidate", "precision_passes", "with_card_extras",
           "with_heldout", "with_precision_check"]

CANDIDATE_KEYS = ("recall_ge20", "precision_ge20", "recall_lt20", "false_per_km2",
                  "cpu_s_per_km2")


def with_card_extras(card: dict, extras: Mapping[str, Any]) -> dict:
    """``extras`` (keys no training config writes) placed right after the thresholds."""
    at = list(card).index("thresholds") + 1
    items = [(k, v) for k, v in card.items() if k not in extras]
    return dict(items[:at] + list(extras.items()) + items[at:])


def with_heldout(card: dict, recipe: DemoRecipe, rows: dict, tuned: dict | None,
                 compared: dict[str, dict], lineage: Sequence[str],
                 real: dict | None = None) -> dict:
    """The held-out table, how thresholds were picked, the candidates compared, the lineage
    and (``real``) false targets per km2 on real poppy-free tiles."""
    card = {**card, "heldout": {
        "surveys": f"synthetic seeds {recipe.survey_sets['heldout_surveys'].seed_range()}, "
                   "never trained or tuned on",
        "scores": rows,
    }}
    if tuned:
        card["thresholds_picked_on"] = {
            "surveys": f"synthetic seeds {recipe.survey_sets['tune_surveys'].seed_range()}",
            **tuned,
        }
    if compared:
        card["compared_on_heldout"] = compared
    card["not_compared"] = recipe.not_compared
    if lineage:
        card["training"] = {**card["training"], "lineage": list(lineage)}
    if real:
        card["real_false_targets"] = {
            "what": "targets per km2 on real imagery without poppy (tests/data/real), at the card's "
                    "conf; areas are ground areas examined (World Mercator measured in UTM)",
            "held_out": f"{', '.join(recipe.real_held_out)} (never trained on)", **real}
    return card


def precision_passes(rows: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether none of the held-out scores ``CHECKED`` drops at bf16 more than ``MAX_LOSS``
    below f32's (:mod:`poppyscan.detect.backends.precision`)."""
    return all(rows["bf16"][k] >= rows["f32"][k] - MAX_LOSS for k in CHECKED)


def with_precision_check(card: dict, recipe: DemoRecipe, rows: Mapping[str, Mapping[str, Any]],
                         confs: Mapping[str, float]) -> dict:
    """OpenVINO's verdict (``exports.openvino.precision``: what ``precision=auto`` may run),
    bf16's own threshold and the held-out evidence, each precision at its ``confs``."""
    heldout, tune = (recipe.survey_sets[name] for name in ("heldout_surveys", "tune_surveys"))
    keys = (*CHECKED, "false_per_km2", "targets")
    check = {
        "on": f"{len(heldout.plan)} held-out synthetic surveys (seeds {heldout.seed_range()}), "
              "each precision at its own threshold (bf16's picked on the tuning surveys, "
              f"seeds {tune.seed_range()}, by the card's rule)",
        "rule": f"bf16 by default only if none of {', '.join(CHECKED)} drops more than "
                f"{MAX_LOSS} below f32's, and only on CPUs with AMX or AVX512-BF16",
        **{p: {"conf": confs[p], **{k: row[k] for k in keys}} for p, row in rows.items()}}
    openvino = {**card["exports"]["openvino"],
                "precision": "bf16" if precision_passes(rows) else "f32",
                "thresholds": {"bf16": {"conf": confs["bf16"]}}, "precision_check": check}
    return {**card, "exports": {**card["exports"], "openvino": openvino}}


def candidate(card: Mapping[str, Any], rows: Mapping[str, dict]) -> dict[str, dict]:
    """One line of the comparison: grid, network, training and held-out scores over all GSDs."""
    all_rows = rows["all"]
    return {str(card["model_id"]): {
        "grid": f"{card['gsd_m']:g} m, {card['tile_px']} px, overlap {card['overlap_px']} px",
        "architecture": card["architecture"], "epochs": card["training"]["epochs_run"],
        "thresholds": card["thresholds"],
        **{k: None if all_rows[k] is None else round(all_rows[k], 4) for k in CANDIDATE_KEYS},
    }}
