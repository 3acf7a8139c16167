"""The `dataset`, `train` and `bundle` stages: datasets cut from the surveys, and bundles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from poppyscan.detect.bundle import update_card
from poppyscan.train.demo_card import with_card_extras
from poppyscan.train.demo_recipe import DemoRecipe

from .surveys import surveys_of


def _matching(work: Path, pattern: str) -> list[Path]:
    found = sorted(work.glob(pattern))
    if not found:
        raise SystemExit(f"{work / pattern}: not found; run the `mine` stage for that model first")
    return found


def build(recipe: DemoRecipe, real_dir: Path, work: Path, names: list[str]) -> None:
    """Build the datasets ``names`` under ``work`` as the recipe says."""
    from poppyscan.train.dataset import build_dataset

    for name in names:
        spec = recipe.datasets[name]
        surveys = [path for survey_set in spec.survey_sets for path in surveys_of(work, survey_set)]
        if spec.real:
            surveys += sorted((work / "composites").glob("*/ortho.tif"))
        labels = [p.parent / "plots.geojson" for p in surveys]
        hard = [path for pattern in spec.hard_negatives for path in _matching(work, pattern)]
        negatives_from = [real_dir / host for host in recipe.real_train] if spec.real else ()
        summary = build_dataset(surveys, labels, work / name, grid=spec.grid,
                                hard_negatives=hard, negatives_from=negatives_from,
                                overwrite=True, **recipe.dataset_settings)
        print(name, json.dumps(summary.to_dict()["splits"]), json.dumps(summary.counts))


def train(recipe: DemoRecipe, data: Path, out: Path, config: dict) -> None:
    """Train a bundle on ``data`` into ``out`` and add the recipe's card extras."""
    from poppyscan.train.training import train_model

    bundle = train_model(data, out, config=config, overwrite=True)
    add_card_extras(recipe, out)
    print(json.dumps(bundle.card, indent=2, default=str))


def bundle_run(recipe: DemoRecipe, run: Path, data: Path, out: Path, config: dict) -> None:
    """Bundle an Ultralytics run trained elsewhere (copied to OUT/run): validate, write the card."""
    from poppyscan.train.training import train_model

    if run.resolve() != (out / "run").resolve():
        shutil.rmtree(out / "run", ignore_errors=True)
        shutil.copytree(run, out / "run")
    bundle = train_model(data, out, config={**config, "device": "cpu", "resume": True},
                         overwrite=True)
    add_card_extras(recipe, out)
    print(bundle.model_id, json.dumps(bundle.card["metrics"]))


def add_card_extras(recipe: DemoRecipe, model: Path) -> None:
    """Write the recipe's card extras into the bundle's card, after its thresholds."""
    update_card(model, lambda card: with_card_extras(card, recipe.card_extras))
