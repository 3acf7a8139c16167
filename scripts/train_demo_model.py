"""Reproduce the bundled demo model: synthetic surveys -> dataset -> YOLO11n -> bundle.

    python scripts/train_demo_model.py surveys  --work runs/demo     # CPU, a few minutes
    python scripts/train_demo_model.py dataset  --work runs/demo     # CPU
    python scripts/train_demo_model.py train    --work runs/demo     # GPU if present
    python scripts/train_demo_model.py evaluate --work runs/demo     # held-out surveys

Training surveys use seeds 100-199; held-out evaluation uses seeds 900+ (never
trained on), at 2, 5 and 8 cm GSD, every stage. Chips are written as JPEG
(quality 95) so the dataset is small enough to send to a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (gsd_m, size_px): every survey covers 80-150 m of ground.
TRAIN_SURVEYS = [(0.05, 3072)] * 10 + [(0.08, 1920)] * 4 + [(0.02, 4096)] * 3
HELDOUT_SURVEYS = [(0.05, 3072), (0.05, 3072), (0.08, 1920), (0.08, 1920), (0.02, 4096), (0.02, 4096)]
TRAIN_SEED0, HELDOUT_SEED0 = 100, 900


def _one_survey(args) -> str:
    from train.synth import generate_survey

    out, seed, gsd_m, size_px = args
    result = generate_survey(out, seed=seed, size_px=(size_px, size_px), gsd_m=gsd_m,
                             plot_density_per_ha=10.0, distractor_density_per_ha=12.0, overwrite=True)
    return str(result.ortho_path)


def make_surveys(work: Path, plan, seed0: int, name: str, jobs: int) -> list[Path]:
    tasks = [(work / name / f"s{seed0 + i}", seed0 + i, gsd, size) for i, (gsd, size) in enumerate(plan)]
    with ProcessPoolExecutor(jobs) as pool:
        return [Path(p) for p in pool.map(_one_survey, tasks)]


def build(work: Path) -> None:
    from tiles import GridSpec
    from train.dataset import build_dataset

    surveys = sorted((work / "train_surveys").glob("s*/ortho.tif"))
    labels = [p.parent / "plots.geojson" for p in surveys]
    summary = build_dataset(surveys, labels, work / "dataset", grid=GridSpec(0.05, 640, 128),
                            class_names=["poppy"], split="ortho", val_frac=0.15, test_frac=0.1,
                            negative_ratio=0.3, image_format="jpg", seed=0, overwrite=True)
    print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["surveys", "dataset", "train", "evaluate"])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "demo")
    parser.add_argument("--jobs", type=int, default=2, help="parallel survey processes [2]")
    parser.add_argument("--config", default=str(ROOT / "configs" / "train" / "demo.yaml"))
    parser.add_argument("--out", type=Path, default=ROOT / "detect" / "models" / "poppy-demo")
    args = parser.parse_args()
    if args.stage == "surveys":
        make_surveys(args.work, TRAIN_SURVEYS, TRAIN_SEED0, "train_surveys", args.jobs)
        make_surveys(args.work, HELDOUT_SURVEYS, HELDOUT_SEED0, "heldout_surveys", args.jobs)
    elif args.stage == "dataset":
        build(args.work)
    elif args.stage == "train":
        import yaml

        from train.training import train_model

        config = yaml.safe_load(Path(args.config).read_text())
        bundle = train_model(args.work / "dataset", args.out, config=config, overwrite=True)
        print(json.dumps(bundle.card, indent=2, default=str))
    else:
        from train.evaluate import evaluate

        for survey in sorted((args.work / "heldout_surveys").glob("s*/ortho.tif")):
            report = evaluate(args.out, [survey], survey.parent / "plots.geojson")
            print(survey.parent.name, report.summary_text())


if __name__ == "__main__":
    main()
