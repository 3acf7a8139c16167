"""Chip-level mAP of a bundle on a built dataset's chips (Ultralytics val), offline."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from poppyscan.detect.bundle import ModelBundle
from poppyscan.errors import ConfigError

__all__ = ["chip_map"]


def chip_map(
    bundle: ModelBundle, data_dir: str | os.PathLike, *, device: str | None = None,
    batch_size: int = 8, split: str = "test",
) -> dict[str, Any] | None:
    """mAP of the bundle on a dataset's ``split`` chips (Ultralytics val); None if it has none."""
    from poppyscan.train.dataset import load_summary
    from poppyscan.train.training import hold_threads, offline_ultralytics, ultralytics_device

    summary = load_summary(data_dir)
    images = int(summary.splits.get(split, {}).get("images", 0))
    if not images:
        return None
    if summary.tile_px != bundle.grid.tile_px or summary.gsd_m != bundle.grid.gsd_m:
        raise ConfigError(
            f"{data_dir}: chips are {summary.tile_px} px at {summary.gsd_m} m but the model "
            f"expects {bundle.grid.tile_px} px at {bundle.grid.gsd_m} m; rebuild the dataset"
        )
    from poppyscan.detect._ultralytics import configure_offline

    configure_offline("mAP on the test chips (Ultralytics' validation)")
    from ultralytics import YOLO

    dev = ultralytics_device(device)
    with offline_ultralytics(cuda=dev != "cpu"), \
            tempfile.TemporaryDirectory(prefix="poppyscan-val-") as scratch:
        model = hold_threads(YOLO(str(bundle.weights_path), task="detect"), None)  # every core
        result = model.val(
            data=str(summary.data_yaml.resolve()), split=split, imgsz=summary.tile_px,
            batch=batch_size, device=dev, workers=0, plots=False, verbose=False,
            project=scratch, name="val", exist_ok=True, conf=0.001,
            iou=float(bundle.thresholds.get("iou_nms", 0.5)),
        )
    box = result.box
    return {"split": split, "images": images, "precision": round(float(box.mp), 4),
            "recall": round(float(box.mr), 4), "mAP50": round(float(box.map50), 4),
            "mAP50-95": round(float(box.map), 4)}
