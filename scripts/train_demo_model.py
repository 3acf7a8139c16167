"""Reproduce the bundled demo model: synthetic surveys -> datasets -> YOLO -> bundle -> scores.

    python scripts/train_demo_model.py surveys            # CPU, a few minutes
    python scripts/train_demo_model.py dataset            # CPU: 5 cm / 640 px and 10 cm / 320 px
    python scripts/train_demo_model.py train              # poppyscan train (GPU if present)
    python scripts/train_demo_model.py bundle --run DIR   # or: bundle a run trained elsewhere
    python scripts/train_demo_model.py mine --out MODEL   # MODEL's false targets on training surveys
    python scripts/train_demo_model.py tune --apply       # pick conf + merge rule on tuning surveys
    python scripts/train_demo_model.py evaluate           # held-out table, written into the card

On a GPU machine without GDAL, ``scripts/gpu_train_demo.py`` replaces ``train``.
Seeds: training surveys 100+, tuning surveys 800+ (thresholds are picked there),
held-out surveys 900+ (scored once, never trained or tuned on). Every set mixes
2, 5 and 8 cm GSD; stages are drawn per plot. Chips are JPEG (quality 90) so a
dataset is small enough to send to a GPU machine.

The recipe (survey plans, seeds, real tiles, datasets): configs/train/demo_recipe.yaml.
How each bundled model was made, command by command: docs/training/demo-model-history.md.
The stages live in scripts/demo_model/; card edits and held-out scoring in poppyscan.train.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poppyscan.train.demo_recipe import DemoRecipe, load_recipe  # noqa: E402
from scripts.demo_model import REAL  # noqa: E402

STAGES = ["surveys", "composites", "mine", "dataset", "train", "bundle", "tune", "evaluate",
          "precision"]


def parser(recipe: DemoRecipe) -> argparse.ArgumentParser:
    """The command line: one stage and its flags."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=STAGES)
    sets = list(recipe.survey_sets)
    p.add_argument("--sets", nargs="*", choices=sets, default=sets[:3],
                   help="surveys: the survey sets to draw [train, tune and held-out]")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "demo")
    p.add_argument("--jobs", type=int, default=2, help="parallel survey processes [2]")
    p.add_argument("--config", default=str(ROOT / "configs" / "train" / "demo.yaml"))
    p.add_argument("--data", choices=list(recipe.datasets), default=None,
                   help="dataset folder under --work [dataset; the dataset stage: those without "
                        "hard negatives]")
    p.add_argument("--architecture", default=None, help="model YAML [the config's]")
    p.add_argument("--name", default=None, help="model name [the config's]")
    p.add_argument("--epochs", type=int, default=None, help="training epochs [the config's]")
    p.add_argument("--batch", type=int, default=None, help="training batch [the config's]")
    p.add_argument("--run", type=Path, help="bundle: an Ultralytics run folder trained elsewhere")
    p.add_argument("--out", type=Path, default=ROOT / "detect" / "models" / "poppy-demo",
                   help="bundle folder [detect/models/poppy-demo]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--compare", type=Path, nargs="*", default=[],
                   help="evaluate: other candidate bundles, already evaluated, for the card")
    p.add_argument("--apply", action="store_true",
                   help="tune: write the picked thresholds into the bundle's card")
    p.add_argument("--lineage", nargs="*", default=[],
                   help="evaluate: the steps that made the model, one line each, for the card")
    p.add_argument("--real", action="store_true",
                   help="evaluate: also count false targets per km2 on the real poppy-free "
                        "tiles, into the card")
    p.add_argument("--mine-conf", type=float, default=0.1,
                   help="mine: least confidence of a false target kept as a hard negative [0.1]")
    return p


def training_config(args: argparse.Namespace) -> dict:
    """The training settings: configs/train/demo.yaml, then --config, then the flags."""
    from poppyscan.config import load_config

    config = load_config("train/demo", args.config, architecture=args.architecture,
                         epochs=args.epochs, batch=args.batch)
    if args.name is not None:  # `name` is load_config's own first parameter
        config["name"] = args.name
    return config


def tune_stage(recipe: DemoRecipe, args: argparse.Namespace, config: dict, data: Path) -> None:
    """Pick thresholds on the tuning surveys; --apply re-bundles the run with them."""
    from scripts.demo_model.data import bundle_run
    from scripts.demo_model.scores import tune

    picked = tune(args.work, args.out, args.device)
    (args.work / f"tuned-{args.out.name}.json").write_text(json.dumps(picked, indent=2) + "\n")
    if args.apply:
        config.update(conf=picked["conf"], merge_rule=picked["merge_rule"])
        bundle_run(recipe, args.out / "run", data, args.out, config)


def evaluate_stage(recipe: DemoRecipe, args: argparse.Namespace) -> None:
    """Score the held-out surveys (and --real tiles) and write them into the card."""
    from poppyscan.detect.bundle import load_bundle, update_card
    from poppyscan.train.demo_card import candidate, with_heldout
    from scripts.demo_model.scores import compared_candidates, evaluate_heldout, real_false_targets

    rows = evaluate_heldout(args.work, args.out, args.device)
    real = real_false_targets(recipe, REAL, args.out, args.device) if args.real else None
    tuned_path = args.work / f"tuned-{args.out.name}.json"
    tuned = json.loads(tuned_path.read_text()) if tuned_path.is_file() else None
    compared = {**candidate(load_bundle(args.out).card, rows),
                **compared_candidates(args.work, args.compare)}
    update_card(args.out, lambda card: with_heldout(card, recipe, rows, tuned, compared,
                                                    args.lineage, real))


def run_stage(recipe: DemoRecipe, args: argparse.Namespace) -> None:
    """Run the stage the command line names."""
    from scripts.demo_model import data as datasets
    from scripts.demo_model import scores, surveys

    config, data = training_config(args), args.work / (args.data or "dataset")
    if args.stage == "surveys":
        surveys.make_surveys(recipe, args.work, args.jobs, args.sets)
    elif args.stage == "composites":
        surveys.make_composites(recipe, REAL, args.work, args.jobs)
    elif args.stage == "precision":
        scores.check_precision(recipe, args.work, args.out)
    elif args.stage == "mine":
        scores.mine(args.work, args.out, args.device, args.mine_conf)
    elif args.stage == "dataset":
        names = [args.data] if args.data else [name for name, spec in recipe.datasets.items()
                                               if not spec.hard_negatives]
        datasets.build(recipe, REAL, args.work, names)
    elif args.stage == "train":
        datasets.train(recipe, data, args.out, config)
    elif args.stage == "bundle":
        datasets.bundle_run(recipe, args.run, data, args.out, config)
    elif args.stage == "tune":
        tune_stage(recipe, args, config, data)
    else:
        evaluate_stage(recipe, args)


def main() -> None:
    recipe = load_recipe()
    run_stage(recipe, parser(recipe).parse_args())


if __name__ == "__main__":
    main()
