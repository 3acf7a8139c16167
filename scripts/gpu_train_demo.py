"""The GPU half of train_demo_model.py, for a machine with Ultralytics and torch only.

It imports nothing from poppyscan (the GPU machine lacks GDAL); it reads
``configs/train/demo.yaml`` and passes Ultralytics the same arguments as
``train.training.train_model``; the chip size comes from the dataset's
``summary.json``. Bring ``OUT/run`` back beside a bundle and run
``train_demo_model.py bundle`` to validate it and write the card.

    python scripts/gpu_train_demo.py runs/demo/dataset OUT --hours 0.1
    python scripts/gpu_train_demo.py runs/demo/dataset-10cm OUT2 --hours 0.1
    python scripts/gpu_train_demo.py runs/demo/dataset OUT3 --architecture yolo11s.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--architecture", default=None, help="model YAML [the config's]")
    parser.add_argument("--hours", type=float, default=None, help="wall-clock cap (Ultralytics `time`)")
    parser.add_argument("--workers", type=int, default=12)
    args = parser.parse_args()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(args.out / ".ultralytics"))
    cfg = yaml.safe_load((ROOT / "configs" / "train" / "demo.yaml").read_text())
    tile_px = json.loads((args.dataset / "summary.json").read_text())["tile_px"]
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer
    from ultralytics import YOLO

    data_utils.check_font = lambda *a, **k: None  # plots are off; no font download
    trainer.check_amp = lambda model: True  # the real check downloads weights
    extra = {"time": args.hours} if args.hours else {}
    YOLO(args.architecture or cfg["architecture"], task="detect").train(
        data=str((args.dataset / "data.yaml").resolve()), epochs=cfg["epochs"], batch=cfg["batch"],
        imgsz=tile_px, device=0, workers=args.workers, seed=cfg["seed"], patience=cfg["patience"],
        cache="ram", project=str(args.out.resolve()), name="run", exist_ok=True, pretrained=False,
        plots=False, amp=True, deterministic=True, verbose=False, **cfg["hyp"], **extra,
    )


if __name__ == "__main__":
    sys.exit(main())
