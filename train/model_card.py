"""The card a trained model gets: grid from its dataset, what it was trained on and from, scores."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from poppyscan.detect.cpu_threads import cpu_cores
from poppyscan.detect.safe_load import load_checkpoint
from poppyscan.provenance import sha256_file, utc_now
from poppyscan.train.dataset import DatasetSummary

__all__ = ["NOMINAL_BATCH", "model_card", "parent_card", "parent_changes"]

NOMINAL_BATCH = 64  # Ultralytics' nbs: images per optimizer step, batches accumulated

def parent_changes(parent: Mapping[str, Any] | None, summary: DatasetSummary) -> list[str]:
    """What fine-tuning ``parent`` (a bundle's card) on ``summary``'s dataset changes: classes, grid."""
    if not parent or parent.get("kind") == "start":  # a start knows no classes or grid
        return []
    changes = []
    if list(parent.get("classes", [])) != list(summary.class_names):
        changes.append(f"the parent {parent.get('model_id')} detects classes "
                       f"{list(parent.get('classes', []))}; this dataset has "
                       f"{list(summary.class_names)}; it learns them in their place")
    for key, unit in (("gsd_m", " m"), ("tile_px", " px")):
        if key in parent and not math.isclose(float(parent[key]), float(getattr(summary, key)),
                                              rel_tol=1e-6):
            changes.append(f"the parent {parent.get('model_id')} was trained at {key} "
                           f"{parent[key]:g}{unit}; this dataset is at "
                           f"{getattr(summary, key):g}{unit}")
    return changes


def parent_card(weights: Path) -> dict[str, Any] | None:
    """The card of the bundle ``weights`` belong to (its sha256 checked), if any."""
    card_path = weights.parent / "card.yaml"
    if not weights.is_file() or not card_path.is_file():
        return None
    card = yaml.safe_load(card_path.read_text()) or {}
    listed = card.get("weights", {}) if isinstance(card, dict) else {}
    if listed.get("file") != weights.name or listed.get("sha256") != sha256_file(weights):
        return None
    return card


def _torch_device(device: str) -> str:
    """Ultralytics' device ("cpu", "0") as torch names it ("cpu", "cuda:0")."""
    return device if device == "cpu" or device.startswith("cuda") else f"cuda:{device}"


def _epochs_run(run_dir: Path) -> int:
    """Epochs logged in ``results.csv`` (one row each)."""
    results = run_dir / "results.csv"
    if not results.is_file():
        return 0
    return max(0, len(results.read_text().strip().splitlines()) - 1)


def model_card(cfg: dict, summary: DatasetSummary, weights: Path, metrics: dict, device: str,
               run_dir: Path, run: str) -> dict:
    """The card of weights trained in ``run_dir`` (``run``: trained, resumed or reused)."""
    import torch
    import ultralytics

    # What the run actually used (a reused or resumed run keeps its own settings).
    args_file = run_dir / "args.yaml"
    args = (yaml.safe_load(args_file.read_text()) if args_file.is_file() else None) or {}
    architecture, start = _starting_point(str(args.get("model", "")), cfg, run_dir)

    sha = sha256_file(weights)
    card: dict[str, Any] = {
        "name": cfg["name"],
        "model_id": f"{cfg['name']}-{sha[:8]}",
        "architecture": Path(architecture).stem,
        "classes": list(summary.class_names),
        "gsd_m": summary.gsd_m,
        "tile_px": summary.tile_px,
        "overlap_px": summary.overlap_px,
        "thresholds": {"conf": float(cfg["conf"]), "iou_nms": float(cfg["iou_nms"]),
                       "merge_rule": cfg["merge_rule"], "min_overlap": float(cfg["min_overlap"])},
        "metrics": metrics,
        "training": {
            "trained_at": utc_now(),
            "run": run, "epochs": int(args.get("epochs", cfg["epochs"])),
            "epochs_run": _epochs_run(run_dir), "batch": int(args.get("batch", cfg["batch"])),
            "imgsz": summary.tile_px, "seed": int(args.get("seed", cfg["seed"])),
            "nbs": int(args.get("nbs", NOMINAL_BATCH)),
            "device": _torch_device(str(args.get("device", device))),
            "hyp": {k: args.get(k, v) for k, v in cfg["hyp"].items()},
            "ultralytics": str(ultralytics.__version__),
            "torch": str(torch.__version__),
        },
        "data": {
            "sources": list(summary.sources), "crs": summary.crs,
            "splits": {s: {k: v for k, v in c.items()} for s, c in summary.splits.items()},
            "counts": summary.counts, "options": summary.options,
        },
    }
    if start is not None:
        parent = parent_card(start)
        card["training"]["fine_tuned_from"] = {
            "file": start.name, "sha256": sha256_file(start) if start.is_file() else None,
            **({"model_id": str(parent["model_id"])} if parent and "model_id" in parent else {}),
            **({"changed": changes} if (changes := parent_changes(parent, summary)) else {}),
        }
        if parent and parent.get("kind") == "start":
            card["training"]["start"] = {
                "name": parent.get("name"), "source": parent.get("source"),
                "licence": parent.get("licence")}
    card["training"]["torch_threads"] = int(cfg.get("threads") or cpu_cores())
    if cfg["notice"]:
        card["notice"] = str(cfg["notice"])
    return card


def _starting_point(model: str, cfg: dict, run_dir: Path) -> tuple[str, Path | None]:
    """(architecture YAML, weights fine-tuned from or None) of a run whose args name ``model``.

    A fresh run names its YAML or start weights; a resumed one names its own
    checkpoint, so the config says where it started.
    """
    if model.endswith((".yaml", ".yml")):
        return model, None
    own_checkpoint = model.endswith(".pt") and Path(model).resolve().is_relative_to(run_dir.resolve())
    given = str(cfg["architecture"]) if own_checkpoint or not model else model
    if not given.endswith(".pt"):
        return given, None
    return _yaml_of_weights(Path(given)) or given, Path(given)


def _yaml_of_weights(path: Path) -> str | None:
    """The architecture YAML a checkpoint was built from (``yolo11n.yaml``), if readable."""
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path)
    model = ckpt.get("ema") or ckpt.get("model")
    return getattr(model, "yaml", {}).get("yaml_file")
