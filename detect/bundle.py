"""Model bundles: weights plus a model card that fixes how chips are made.

A bundle is a folder holding ``card.yaml`` and the weights file it names. The
card's grid (GSD, chip size, overlap) is the grid detection uses, so a model is
always fed chips at the GSD it was trained on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from poppyscan.detect.merge import MergeSettings
from poppyscan.tiles.atomic import atomic_write_text
from poppyscan.tiles.errors import ModelError
from poppyscan.tiles.grid import GridSpec

if TYPE_CHECKING:
    from poppyscan.detect.predictor import Predictor

__all__ = ["ModelBundle", "load_bundle", "default_bundle_path", "write_bundle", "sha256_file",
           "write_untrained_bundle"]

REQUIRED = (
    "name",
    "model_id",
    "architecture",
    "classes",
    "gsd_m",
    "tile_px",
    "overlap_px",
    "thresholds",
    "weights",
)
MERGE_OPTIONS = ("min_overlap", "cut_overlap")  # card thresholds passed to the merge rule
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "models" / "poppy-demo"


@dataclass(frozen=True)
class ModelBundle:
    """A loaded, checked model bundle."""

    path: Path
    card: dict[str, Any]
    weights_path: Path
    grid: GridSpec = field(repr=False)

    @property
    def model_id(self) -> str:
        return str(self.card["model_id"])

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def conf(self) -> float:
        return float(self.card["thresholds"]["conf"])

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.card["thresholds"])

    def merge_settings(self, rule: str | None = None) -> MergeSettings:
        """The card's merge rule and options; ``rule`` overrides the rule alone."""
        thresholds = self.thresholds
        options = {k: float(thresholds[k]) for k in MERGE_OPTIONS if k in thresholds}
        return MergeSettings(rule or str(thresholds.get("merge_rule", "union")), options)

    def predictor(self, device: str | None = "auto", *, conf: float | None = None,
                  backend: str = "auto") -> Predictor:
        """A predictor at the card's NMS IoU and ``conf`` (the card's by default).

        ``backend``: ``auto`` (the fastest available, see :mod:`poppyscan.detect.backends`),
        ``torch``, ``openvino`` or ``onnxruntime``; ``predictor.backend`` says which runs.
        """
        from poppyscan.detect.backends import make_predictor

        conf = self.conf if conf is None else float(conf)
        if not 0 < conf < 1:
            raise ModelError(f"conf={conf!r} must be in (0, 1)")
        return make_predictor(self, backend=backend, device=device, conf=conf,
                              iou=float(self.thresholds.get("iou_nms", 0.5)))


def default_bundle_path() -> Path:
    """The bundled demo model (``POPPYSCAN_MODEL`` overrides it)."""
    return Path(os.environ.get("POPPYSCAN_MODEL", DEFAULT_BUNDLE))


def sha256_file(path: str | os.PathLike, block_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def load_bundle(path: str | os.PathLike | None = None, *, verify: bool = True) -> ModelBundle:
    """Load and check a bundle folder (or its ``card.yaml``); default: the bundled model."""
    path = Path(path) if path else default_bundle_path()
    card_path = path if path.suffix in (".yaml", ".yml") else path / "card.yaml"
    if not card_path.exists():
        raise ModelError(
            f"{card_path}: model card missing; a bundle is a folder with card.yaml "
            "and weights (see `poppyscan model info`)"
        )
    try:
        card = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as err:
        raise ModelError(f"{card_path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: expected a mapping")
    missing = [key for key in REQUIRED if key not in card]
    if missing:
        raise ModelError(f"{card_path}: card lacks {', '.join(missing)}")
    weights = card_path.parent / str(card["weights"].get("file", ""))
    if not weights.is_file():
        raise ModelError(f"{card_path}: weights file {weights.name!r} not found beside the card")
    if verify and card["weights"].get("sha256") != sha256_file(weights):
        raise ModelError(
            f"{card_path}: sha256 of {weights.name} does not match the card "
            "(weights replaced or corrupt)"
        )
    _check_card(card_path, card)
    grid = GridSpec(float(card["gsd_m"]), int(card["tile_px"]), int(card["overlap_px"]))
    return ModelBundle(card_path.parent, card, weights, grid)


def _check_card(card_path: Path, card: dict) -> None:
    if not card["classes"] or not all(isinstance(c, str) for c in card["classes"]):
        raise ModelError(f"{card_path}: classes must be a non-empty list of names")
    if int(card["tile_px"]) % 32:
        raise ModelError(
            f"{card_path}: tile_px={card['tile_px']} must be a multiple of 32 (YOLO stride)"
        )
    if not 0 <= int(card["overlap_px"]) < int(card["tile_px"]):
        raise ModelError(f"{card_path}: overlap_px={card['overlap_px']} must be in [0, tile_px)")
    if not 0.005 <= float(card["gsd_m"]) <= 1.0:
        raise ModelError(f"{card_path}: gsd_m={card['gsd_m']} outside 0.005-1.0 m")
    conf = card["thresholds"].get("conf") if isinstance(card["thresholds"], dict) else None
    if conf is None or not 0 < float(conf) < 1:
        raise ModelError(f"{card_path}: thresholds.conf must be in (0, 1)")


def write_bundle(out_dir: str | os.PathLike, weights: str | os.PathLike, card: dict) -> ModelBundle:
    """Copy ``weights`` into ``out_dir`` with a card (sha256 filled in); return it loaded."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "weights.pt"
    if Path(weights).resolve() != target.resolve():
        from poppyscan.tiles.atomic import atomic_write_bytes

        atomic_write_bytes(target, Path(weights).read_bytes())
    card = {**card, "weights": {"file": target.name, "sha256": sha256_file(target)}}
    atomic_write_text(
        out_dir / "card.yaml", yaml.safe_dump(card, sort_keys=False, allow_unicode=True)
    )
    return load_bundle(out_dir)


def write_untrained_bundle(out_dir: str | os.PathLike, *, architecture: str = "yolo11n",
                           tile_px: int = 640, gsd_m: float = 0.05, overlap_px: int = 128,
                           conf: float = 0.25, seed: int = 0) -> ModelBundle:
    """A bundle of randomly initialised weights, for plumbing tests and speed benchmarks only."""
    from poppyscan.detect._ultralytics import configure_offline

    configure_offline()
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel(f"{architecture}.yaml", nc=1, verbose=False)
    model.names = {0: "poppy"}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "untrained.pt"
    torch.save({"model": model.half(), "train_args": {}, "date": None}, weights)
    card = {
        "name": "untrained", "model_id": f"untrained-{architecture}-{seed}",
        "architecture": architecture, "classes": ["poppy"], "gsd_m": gsd_m, "tile_px": tile_px,
        "overlap_px": overlap_px, "thresholds": {"conf": conf, "iou_nms": 0.5, "merge_rule": "union"},
        "notice": "random weights: detects nothing real",
    }
    try:
        return write_bundle(out_dir, weights, card)
    finally:
        weights.unlink()
