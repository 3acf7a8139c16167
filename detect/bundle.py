"""Model bundles: weights plus a model card that fixes how chips are made.

A bundle is a folder holding ``card.yaml`` and the weights file it names. The
card's grid (GSD, chip size, overlap) is the grid detection uses, so a model is
always fed chips at the GSD it was trained on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from poppyscan.atomic import atomic_write_text
from poppyscan.detect.merge import MergeSettings, merge_settings_for
from poppyscan.errors import ConfigError, ModelError
from poppyscan.provenance import sha256_file
from poppyscan.tiles.grid import GridSpec

if TYPE_CHECKING:
    from poppyscan.detect.predictor import Predictor

__all__ = ["ModelBundle", "load_bundle", "default_bundle_path", "update_card", "write_bundle",
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

    def merge_settings(self, rule: str | Mapping[str, str] | None = None) -> MergeSettings:
        """The card's merge rule (one, or one per class) and options; ``rule`` overrides the rule.

        ``rule``: a rule name for every class, or ``{class name: rule}`` naming each class.
        """
        thresholds = self.thresholds
        options = {k: float(thresholds[k]) for k in MERGE_OPTIONS if k in thresholds}
        if rule:
            return merge_settings_for(rule, self.classes, options)
        try:
            return merge_settings_for(thresholds.get("merge_rule", "union"), self.classes, options)
        except ConfigError as err:
            raise ModelError(f"{self.path / 'card.yaml'}: thresholds.merge_rule: {err}") from None

    def predictor(self, device: str | None = "auto", *, conf: float | None = None,
                  backend: str = "auto", precision: str = "auto") -> Predictor:
        """A predictor at the card's NMS IoU and ``conf`` (by default the card's for the
        precision that runs).

        ``backend``: ``auto`` (the fastest available, see :mod:`poppyscan.detect.backends`),
        ``torch``, ``openvino`` or ``onnxruntime``; ``predictor.backend`` says which runs.
        ``precision``: ``auto`` (the card's checked one, else f32), ``f32``, ``bf16`` (OpenVINO).
        """
        from poppyscan.detect.backends import make_predictor

        if conf is not None and not 0 < float(conf) < 1:
            raise ModelError(f"conf={conf!r} must be in (0, 1)")
        conf = None if conf is None else float(conf)
        return make_predictor(self, backend=backend, device=device, conf=conf, precision=precision,
                              iou=float(self.thresholds.get("iou_nms", 0.5)))


def default_bundle_path() -> Path:
    """The bundled demo model (``POPPYSCAN_MODEL`` overrides it)."""
    return Path(os.environ.get("POPPYSCAN_MODEL", DEFAULT_BUNDLE))


def load_bundle(path: str | os.PathLike | None = None, *, verify: bool = True) -> ModelBundle:
    """Load and check a bundle folder (or its ``card.yaml``); default: the bundled model.

    The weights are not unpickled here; :mod:`poppyscan.detect.safe_load` does
    that, without running code, when a predictor is made.
    """
    path = Path(path) if path else default_bundle_path()
    card_path = path if path.suffix in (".yaml", ".yml") else path / "card.yaml"
    if not card_path.exists():
        raise ModelError(
            f"{card_path}: model card missing; a bundle is a folder with card.yaml "
            "and weights (see `poppyscan model info`)"
        )
    try:
        card = yaml.safe_load(card_path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ModelError(f"{card_path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except OSError as err:
        raise ModelError(f"{card_path}: cannot read the card ({err.strerror})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: expected a mapping")
    missing = [key for key in REQUIRED if key not in card]
    if missing:
        raise ModelError(f"{card_path}: card lacks {', '.join(missing)}")
    _check_card(card_path, card)
    weights = bundle_file(card_path, "weights file", card["weights"]["file"])
    for fmt, entry in (card.get("exports") or {}).items():
        for key in ("file", "data_file"):
            if isinstance(entry, dict) and key in entry:
                bundle_file(card_path, f"exports.{fmt}.{key}", entry[key])
    if not weights.is_file():
        raise ModelError(f"{card_path}: weights file {weights.name!r} not found beside the card")
    if verify and card["weights"].get("sha256") != sha256_file(weights):
        raise ModelError(
            f"{card_path}: sha256 of {weights.name} does not match the card "
            "(weights replaced or corrupt)"
        )
    grid = GridSpec(float(card["gsd_m"]), int(card["tile_px"]), int(card["overlap_px"]))
    return ModelBundle(card_path.parent, card, weights, grid)


def bundle_file(card_path: Path, what: str, name: object) -> Path:
    """The path of a file the card names; ModelError unless it resolves inside the bundle folder."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise ModelError(f"{card_path}: {what}={name!r} must name a file beside the card")
    path = card_path.parent / name
    if not path.resolve().is_relative_to(card_path.parent.resolve()):
        raise ModelError(f"{card_path}: {what} {name!r} lies outside the bundle folder; a card "
                         "may name only a file beside it")
    return path


def _check_card(card_path: Path, card: dict) -> None:
    """Types first, then ranges: every problem is one ModelError line naming the key."""

    def fail(problem: str) -> ModelError:
        return ModelError(f"{card_path}: {problem}")

    classes = card["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise fail(f"classes={classes!r}: classes must be a non-empty list of names")
    for key in ("tile_px", "overlap_px"):
        if not _is_number(card[key]) or not isinstance(card[key], int):
            raise fail(f"{key}={card[key]!r} must be a whole number of pixels")
    if not _is_number(card["gsd_m"]):
        raise fail(f"gsd_m={card['gsd_m']!r} must be a number of metres")
    weights = card["weights"]
    file = weights.get("file") if isinstance(weights, dict) else None
    if not isinstance(file, str) or not file or "\0" in file:
        raise fail(f"weights={weights!r} must be a mapping with file: (and sha256:)")
    if card["tile_px"] % 32 or card["tile_px"] <= 0:
        raise fail(f"tile_px={card['tile_px']} must be a positive multiple of 32 (YOLO stride)")
    if not 0 <= card["overlap_px"] < card["tile_px"]:
        raise fail(f"overlap_px={card['overlap_px']} must be in [0, tile_px)")
    if not 0.005 <= card["gsd_m"] <= 1.0:
        raise fail(f"gsd_m={card['gsd_m']} outside 0.005-1.0 m")
    _check_thresholds(card_path, card["thresholds"], card["classes"])
    _check_precision_thresholds(card_path, card.get("exports") or {})


def _check_precision_thresholds(card_path: Path, exports: Any) -> None:
    """``exports.<fmt>.thresholds.<precision>.conf``: each precision's own threshold, in (0, 1)."""
    for fmt, entry in (exports.items() if isinstance(exports, dict) else ()):
        own = entry.get("thresholds", {}) if isinstance(entry, dict) else {}
        for precision, values in (own.items() if isinstance(own, dict) else [("?", own)]):
            conf = values.get("conf") if isinstance(values, dict) else values
            if not _is_number(conf) or not 0 < conf < 1:
                raise ModelError(f"{card_path}: exports.{fmt}.thresholds.{precision}.conf="
                                 f"{conf!r} must be in (0, 1)")


def _check_thresholds(card_path: Path, thresholds: Any, classes: list[str]) -> None:
    if not isinstance(thresholds, dict):
        raise ModelError(f"{card_path}: thresholds={thresholds!r} must be a mapping with conf:")
    conf = thresholds.get("conf")
    if not _is_number(conf) or not 0 < conf < 1:
        raise ModelError(f"{card_path}: thresholds.conf={conf!r} must be in (0, 1)")
    for key in ("iou_nms", *MERGE_OPTIONS):
        value = thresholds.get(key, 0.5)
        if not _is_number(value) or not 0 < value <= 1:
            raise ModelError(f"{card_path}: thresholds.{key}={value!r} must be in (0, 1]")
    try:
        merge_settings_for(thresholds.get("merge_rule", "union"), classes)
    except ConfigError as err:
        raise ModelError(f"{card_path}: thresholds.merge_rule: {err}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_bundle(out_dir: str | os.PathLike, weights: str | os.PathLike, card: dict) -> ModelBundle:
    """Copy ``weights`` into ``out_dir`` with a card (sha256 filled in); return it loaded."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "weights.pt"
    if Path(weights).resolve() != target.resolve():
        from poppyscan.atomic import atomic_write_bytes

        atomic_write_bytes(target, Path(weights).read_bytes())
    card = {**card, "weights": {"file": target.name, "sha256": sha256_file(target)}}
    _write_card(out_dir / "card.yaml", card)
    return load_bundle(out_dir)


def update_card(bundle_dir: str | os.PathLike, edit: Callable[[dict], dict]) -> dict:
    """Write ``edit(card)`` over the bundle's card, atomically; return the new card.

    The one writer of an existing card (exports, thresholds, scores): the weights
    and their sha256 stay as they are, and a card that :func:`load_bundle` would
    refuse is never written (ModelError naming the key).
    """
    card_path = load_bundle(bundle_dir, verify=False).path / "card.yaml"
    card = edit(yaml.safe_load(card_path.read_text()))
    missing = [key for key in REQUIRED if key not in card]
    if missing:
        raise ModelError(f"{card_path}: the edited card lacks {', '.join(missing)}")
    _check_card(card_path, card)
    _write_card(card_path, card)
    return card


def _write_card(card_path: Path, card: dict) -> None:
    atomic_write_text(card_path, yaml.safe_dump(card, sort_keys=False, allow_unicode=True))


def write_untrained_bundle(out_dir: str | os.PathLike, *, architecture: str = "yolo11n",
                           tile_px: int = 640, gsd_m: float = 0.05, overlap_px: int = 128,
                           conf: float = 0.25, seed: int = 0) -> ModelBundle:
    """A bundle of randomly initialised weights, for plumbing tests and speed benchmarks only."""
    from poppyscan.detect._ultralytics import configure_offline

    configure_offline("an untrained bundle")
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
