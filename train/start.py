"""The pretrained start new models train from: the bundled YOLOv8n of detect/models/yolov8n-start.

Built offline by ``scripts/build_start_checkpoint.py`` from the ONNX file in the
``nudenet`` 3.4.2 wheel (its card says how, with both sha256s and the licence,
AGPL-3.0). Training names it ``architecture: start`` (the default);
``--from-scratch`` trains the architecture YAML of :data:`SCRATCH_ARCHITECTURE`
from random weights instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import poppyscan.detect
from poppyscan.errors import ModelError
from poppyscan.provenance import sha256_file

__all__ = ["SCRATCH_ARCHITECTURE", "START", "START_DIR", "is_start_folder", "start_card",
           "start_weights_path"]

START = "start"  # the config value naming the bundled start
SCRATCH_ARCHITECTURE = "yolo11n.yaml"  # --from-scratch: random weights, as before the start
START_DIR = Path(poppyscan.detect.__file__).resolve().parent / "models" / "yolov8n-start"


def start_card(folder: Path = START_DIR) -> dict[str, Any]:
    """The start's card (kind ``start``)."""
    card_path = folder / "card.yaml"
    if not card_path.is_file():
        raise ModelError(f"{card_path}: the pretrained start is missing; reinstall poppyscan or "
                         "train with --from-scratch")
    card = yaml.safe_load(card_path.read_text()) or {}
    if card.get("kind") != "start":
        raise ModelError(f"{card_path}: not a start card (kind {card.get('kind')!r})")
    return card


def start_weights_path(folder: Path = START_DIR) -> Path:
    """The start's weights, their sha256 checked against its card."""
    card = start_card(folder)
    weights = folder / str(card["weights"]["file"])
    if not weights.is_file() or sha256_file(weights) != card["weights"]["sha256"]:
        raise ModelError(f"{weights}: missing or not the weights its card names (sha256); "
                         "rebuild with scripts/build_start_checkpoint.py")
    return weights


def is_start_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a start (a card of kind ``start``), not a model bundle."""
    card_path = folder / "card.yaml"
    if not card_path.is_file():
        return False
    card = yaml.safe_load(card_path.read_text())
    return isinstance(card, dict) and card.get("kind") == "start"
