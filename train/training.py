"""Train a YOLO detector on a poppyscan dataset and write a model bundle.

Fully offline: the network is built from its architecture YAML (no pretrained
download), plots are off (they fetch fonts), the dataset check's font fetch is
stubbed, and on CUDA the AMP self-test (which downloads weights) is replaced by
a plain "AMP works". Runs on CPU or GPU, and resumes an interrupted run from
``<out>/run/weights/last.pt``.

The bundle's card takes the grid (GSD, chip size, overlap) from the dataset, so
detection always feeds the model chips like the ones it learned from.

Small datasets: Ultralytics accumulates gradients up to a nominal batch of 64
images (``nbs``) before each optimizer step, so 64 training chips give one step
per epoch. Below ``MIN_STEPS_PER_EPOCH`` steps, ``nbs`` (and the batch, if
larger) shrinks to the training chips / ``MIN_STEPS_PER_EPOCH``, with a warning;
an ``nbs`` set in ``hyp`` is left alone. Fine-tuning a bundle trained on other
classes or another GSD says so, and the card names the parent's model id.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from poppyscan.config import defaults
from poppyscan.detect._ultralytics import configure_offline
from poppyscan.detect.backends.export import EXPORT_FORMATS, export_bundle
from poppyscan.detect.bundle import ModelBundle, write_bundle
from poppyscan.detect.cpu_threads import set_torch_threads
from poppyscan.detect.merge import MERGE_RULES
from poppyscan.detect.safe_load import enable_safe_loading, load_checkpoint
from poppyscan.errors import ConfigError, ModelError
from poppyscan.train.dataset import DatasetSummary, load_summary
from poppyscan.train.model_card import NOMINAL_BATCH, model_card, parent_card, parent_changes
from poppyscan.train.start import START, is_start_folder, start_weights_path

__all__ = [
    "TRAIN_DEFAULTS", "check_train_config", "hold_threads", "offline_ultralytics", "parent_changes",
    "small_data_batch", "start_weights", "train_model", "ultralytics_device",
]

# Settings of configs/train/default.yaml; ``hyp`` passes Ultralytics hyperparameters through.
TRAIN_DEFAULTS: dict[str, Any] = defaults("train/default")
# Train arguments poppyscan sets itself: not allowed in ``hyp``.
_RESERVED = {"data", "model", "epochs", "batch", "imgsz", "device", "workers", "seed", "patience",
             "resume", "cache", "project", "name", "exist_ok", "pretrained", "plots", "amp",
             "save_dir", "mode", "task", "val"}
RUN_NAME = "run"
MIN_STEPS_PER_EPOCH = 8  # fewer steps than this per epoch: nbs shrinks to fit the data
MIN_SMALL_BATCH = 2

log = logging.getLogger(__name__)


def check_train_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` over :data:`TRAIN_DEFAULTS`, checked; ConfigError naming the bad key."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(TRAIN_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"training config: unknown keys {unknown}; valid keys: {', '.join(TRAIN_DEFAULTS)} "
            "(Ultralytics arguments go under hyp:)"
        )
    cfg = {**TRAIN_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    for key, low in (("epochs", 1), ("batch", 1), ("workers", 0), ("patience", 1)):
        if not isinstance(cfg[key], int) or cfg[key] < low:
            raise ConfigError(f"training config: {key}={cfg[key]!r} must be an integer >= {low}")
    if cfg["threads"] is not None and (not isinstance(cfg["threads"], int) or cfg["threads"] < 1):
        raise ConfigError(f"training config: threads={cfg['threads']!r} must be null (the machine's "
                          "cores) or an integer >= 1")
    for key, high in (("conf", 0.999), ("iou_nms", 1.0), ("min_overlap", 1.0)):
        if not 0 < float(cfg[key]) <= high:
            raise ConfigError(f"training config: {key}={cfg[key]!r} must be in (0, {high:g}]")
    if cfg["merge_rule"] not in MERGE_RULES:
        raise ConfigError(f"training config: merge_rule={cfg['merge_rule']!r}: use one of {', '.join(MERGE_RULES)}")
    if cfg["architecture"] != START and not str(cfg["architecture"]).endswith(
            (".yaml", ".yml", ".pt")):
        raise ConfigError(
            f"training config: architecture={cfg['architecture']!r}: give 'start' (the bundled "
            "pretrained YOLOv8n), a model YAML such as yolo11n.yaml or a local .pt to fine-tune"
        )
    if not isinstance(cfg["export"], list) or not set(cfg["export"]) <= set(EXPORT_FORMATS):
        raise ConfigError(f"training config: export={cfg['export']!r} must be a list of "
                          f"{', '.join(EXPORT_FORMATS)}")
    if not isinstance(cfg["hyp"], Mapping):
        raise ConfigError("training config: hyp must be a mapping of Ultralytics train arguments")
    clash = sorted(set(cfg["hyp"]) & _RESERVED)
    if clash:
        raise ConfigError(f"training config: hyp may not set {clash}; use the top-level keys")
    return cfg


def start_weights(model: ModelBundle | str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """The weights to fine-tune from: a bundle's (or a .pt as given), never one ``out_dir`` replaces."""
    from poppyscan.detect.bundle import load_bundle

    if isinstance(model, ModelBundle):
        path = model.weights_path
    else:
        path = Path(model)
        if path.is_dir() and is_start_folder(path):
            return str(start_weights_path(path))
        path = load_bundle(path).weights_path if path.is_dir() else path
    if path.resolve().is_relative_to(Path(out_dir).resolve()):
        raise ConfigError(f"--from-model {path}: lies in --out {out_dir}, which training replaces; "
                          "copy the model elsewhere first or pick another --out")
    return str(path)


def ultralytics_device(device: str | None) -> str:
    """poppyscan device (auto, cpu, cuda, cuda:N) -> Ultralytics' ("cpu", "0", "N")."""
    from poppyscan.detect.predictor import resolve_device

    resolved = resolve_device(device)
    if resolved == "cpu":
        return "cpu"
    if resolved == "cuda":
        return "0"
    if resolved.startswith("cuda:"):
        return resolved.split(":", 1)[1]
    raise ConfigError(f"device={device!r}: use auto, cpu, cuda or cuda:N")


def train_model(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> ModelBundle:
    """Train on the dataset in ``data_dir``; write the bundle (weights + card) to ``out_dir``.

    ``config``: see :data:`TRAIN_DEFAULTS`. With ``resume`` (default) a run in
    ``out_dir/run`` is picked up: an interrupted one continues where it stopped,
    a finished one is validated and bundled again without training (to change
    the card's thresholds, or to bundle a run trained elsewhere); with
    ``resume=False`` any earlier run is discarded and training starts afresh.
    ``overwrite`` lets an existing bundle in ``out_dir`` be replaced. Training
    curves and checkpoints stay in ``out_dir/run``. ``on_epoch(epoch, epochs,
    metrics)`` is called after each epoch (1-based; validation mAP50 and mAP50-95).
    """
    configure_offline("training")  # before any work: the base install has no PyTorch
    cfg = check_train_config(config)
    summary = load_summary(data_dir)
    cfg["name"] = cfg["name"] or _slug(Path(data_dir).resolve().name)
    imgsz = _check_imgsz(cfg, summary)
    out_dir = Path(out_dir)
    run_dir = out_dir / RUN_NAME
    _prepare(out_dir, overwrite)
    device = ultralytics_device(cfg["device"])
    configure_offline()
    enable_safe_loading()  # Ultralytics' own loads (resume, validation) run no pickled code
    from ultralytics import YOLO

    _check_hyp(cfg["hyp"])
    cfg["architecture"] = _start(cfg["architecture"], summary)
    batch, hyp = small_data_batch(_train_images(summary), cfg["batch"], cfg["hyp"])
    data_yaml = str(summary.data_yaml.resolve())
    last = run_dir / "weights" / "last.pt"
    args = dict(
        data=data_yaml, epochs=cfg["epochs"], batch=batch, imgsz=imgsz, device=device,
        workers=cfg["workers"], seed=cfg["seed"], patience=cfg["patience"], cache=cfg["cache"],
        project=str(out_dir.resolve()), name=RUN_NAME, exist_ok=True,
        pretrained=str(cfg["architecture"]).endswith(".pt"),  # a .pt is fine-tuned
        plots=False, amp=device != "cpu", deterministic=True, verbose=False, **hyp,
    )
    with offline_ultralytics(cuda=device != "cpu"):
        state = _run_state(last) if cfg["resume"] else "none"
        if state != "none":
            _note_other_data(run_dir, data_yaml)
        if state == "interrupted":
            _watch(YOLO(str(last)), on_epoch, cfg["threads"]).train(
                resume=True, data=data_yaml, device=device, workers=cfg["workers"], plots=False,
                save_dir=str(run_dir.resolve()))
        elif state == "none":
            shutil.rmtree(run_dir, ignore_errors=True)
            _watch(_base_model(YOLO, cfg["architecture"]), on_epoch, cfg["threads"]).train(**args)
        weights = _best_weights(run_dir)
        metrics = _validate(YOLO, weights, data_yaml, imgsz, device, cfg, run_dir)
    run = {"none": "trained", "interrupted": "resumed", "finished": "reused"}[state]
    card = model_card(cfg, summary, weights, metrics, device, run_dir, run)
    return _exported(write_bundle(out_dir, weights, card), cfg["export"])


def _start(architecture: str, summary: DatasetSummary) -> str:
    """The architecture to build: the bundled start's weights for ``start``; a parent's changes logged."""
    if architecture == START:
        return str(start_weights_path())
    if architecture.endswith(".pt"):
        for change in parent_changes(parent_card(Path(architecture)), summary):
            log.warning("--from-model %s: %s", architecture, change)
    return architecture


def _exported(bundle: ModelBundle, formats: list[str]) -> ModelBundle:
    """The bundle with ``formats`` exported into it, when the exporter is installed."""
    if not formats:
        return bundle
    missing = [m for m in ("onnx", *(["openvino"] if "openvino" in formats else []))
               if importlib.util.find_spec(m) is None]
    if missing:  # Ultralytics would try to pip install it: offline, that fails
        log.warning("%s: not exported for the fast CPU runtimes (%s not installed; pip install "
                    "'poppyscan[export]'); detect runs it with PyTorch", bundle.path, ", ".join(missing))
        return bundle
    return export_bundle(bundle.path, formats)


def small_data_batch(n_train: int, batch: int, hyp: Mapping[str, Any]) -> tuple[int, dict]:
    """(batch, hyp) giving at least MIN_STEPS_PER_EPOCH optimizer steps per epoch; see the module doc.

    >>> small_data_batch(64, 16, {})
    (8, {'nbs': 8})
    >>> small_data_batch(2000, 16, {})
    (16, {})
    """
    hyp = dict(hyp)
    if "nbs" in hyp or n_train >= NOMINAL_BATCH * MIN_STEPS_PER_EPOCH:
        return batch, hyp
    nbs = max(MIN_SMALL_BATCH, n_train // MIN_STEPS_PER_EPOCH)
    small = min(batch, nbs)
    steps = math.ceil(n_train / small) // max(round(nbs / small), 1)
    log.warning("%d training chips: a nominal batch of %d images would give %.1f optimizer "
                "step(s) per epoch; training with nbs %d and batch %d (%d steps per epoch)",
                n_train, NOMINAL_BATCH, n_train / NOMINAL_BATCH, nbs, small, steps)
    return small, {**hyp, "nbs": nbs}


def _train_images(summary: DatasetSummary) -> int:
    return int(summary.splits.get("train", {}).get("images", 0))


def _slug(text: str) -> str:
    """A model name from free text: lower case, words joined by hyphens.

    >>> _slug("My Trees 2026")
    'my-trees-2026'
    """
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "model"


def _watch(model, on_epoch, threads: int | None = None):
    """``model`` reporting each finished epoch to ``on_epoch`` (Ultralytics' own log is quiet).

    Its torch threads are set to ``threads`` (None: the machine's cores) once
    Ultralytics' ``select_device`` has set them to its own count.
    """
    hold_threads(model, threads)
    if on_epoch is not None:
        def report(trainer) -> None:
            metrics = {k.split("/")[-1].removesuffix("(B)"): float(v)
                       for k, v in (trainer.metrics or {}).items() if k.startswith("metrics/mAP")}
            on_epoch(trainer.epoch + 1, trainer.epochs, metrics)

        model.add_callback("on_fit_epoch_end", report)
    return model


def _run_state(last: Path) -> str:
    """``none`` (no checkpoint), ``interrupted`` or ``finished`` (Ultralytics strips the optimizer).

    Both checkpoints of the run are loaded safely here: Ultralytics' last training
    step re-reads them with a plain, code-running ``torch.load``.
    """
    if not last.is_file():
        return "none"
    best = last.with_name("best.pt")
    if best.is_file():
        load_checkpoint(best)
    ckpt = load_checkpoint(last)
    return "finished" if ckpt.get("optimizer") is None else "interrupted"


def _note_other_data(run_dir: Path, data_yaml: str) -> None:
    """Log when an earlier run in ``run_dir`` was trained on another dataset path."""
    args_file = run_dir / "args.yaml"
    if not args_file.is_file():
        return
    trained_on = str((yaml.safe_load(args_file.read_text()) or {}).get("data", ""))
    if trained_on and Path(trained_on) != Path(data_yaml):
        log.warning("continuing the run in %s, which was trained on %s (now %s); pass "
                    "resume=False / --no-resume to train afresh", run_dir, trained_on, data_yaml)


def _base_model(YOLO, architecture: str):
    """The untrained network of a model YAML, or a local .pt to fine-tune; never a download."""
    if architecture.endswith(".pt") and not Path(architecture).is_file():
        raise ConfigError(
            f"architecture={architecture!r}: no such weights file; training is offline, so give "
            "a local .pt or a model YAML such as yolo11n.yaml"
        )
    if architecture.endswith(".pt"):
        load_checkpoint(architecture)  # one clear line for a file that is not safe weights
    try:
        return YOLO(architecture, task="detect")
    except FileNotFoundError as err:
        raise ConfigError(
            f"architecture={architecture!r}: Ultralytics has no such model YAML ({err}); use e.g. "
            "yolo11n.yaml, yolo11s.yaml, yolov8n.yaml"
        ) from None


def _check_imgsz(cfg: dict, summary: DatasetSummary) -> int:
    if cfg["imgsz"] not in (None, summary.tile_px):
        raise ConfigError(
            f"training config: imgsz={cfg['imgsz']} differs from the dataset's tile_px="
            f"{summary.tile_px}; detection feeds {summary.tile_px} px chips, so train at that "
            "size (drop imgsz or rebuild the dataset)"
        )
    return summary.tile_px


def _check_hyp(hyp: Mapping[str, Any]) -> None:
    from ultralytics.cfg import DEFAULT_CFG_DICT

    unknown = sorted(set(hyp) - set(DEFAULT_CFG_DICT))
    if unknown:
        raise ConfigError(f"training config: hyp keys {unknown} are not Ultralytics train arguments")


def _prepare(out_dir: Path, overwrite: bool) -> None:
    card = out_dir / "card.yaml"
    if card.exists() and not overwrite:
        raise ConfigError(f"{out_dir}: already holds a model bundle; pass overwrite=True / --overwrite")
    if overwrite:  # the run stays: with resume, a finished run is bundled again
        for path in (card, out_dir / "weights.pt"):
            path.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _best_weights(run_dir: Path) -> Path:
    for name in ("best.pt", "last.pt"):
        path = run_dir / "weights" / name
        if path.is_file():
            return path
    raise ModelError(f"{run_dir}: training wrote no weights (see the log above)")


def hold_threads(model, threads: int | None):
    """``model`` (a YOLO) with torch's threads set to ``threads`` whenever Ultralytics resets them."""
    def reset(_owner) -> None:
        set_torch_threads(threads)

    for event in ("on_pretrain_routine_start", "on_train_start", "on_val_start"):
        model.add_callback(event, reset)  # each follows a select_device() in Ultralytics 8.4
    return model


@contextlib.contextmanager
def offline_ultralytics(*, cuda: bool) -> Iterator[None]:
    """Stub the two Ultralytics checks that reach the network during training."""
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer

    saved = data_utils.check_font, trainer.check_amp
    data_utils.check_font = lambda *args, **kwargs: None  # fonts serve plots only: plots are off
    if cuda:
        trainer.check_amp = lambda model: True  # the real check downloads yolo26n.pt
    try:
        yield
    finally:
        data_utils.check_font, trainer.check_amp = saved


def _validate(YOLO, weights: Path, data_yaml: str, imgsz: int, device: str, cfg: dict,
              run_dir: Path) -> dict[str, float]:
    """Precision, recall, mAP50 and mAP50-95 of ``weights`` on the validation chips."""
    result = hold_threads(YOLO(str(weights), task="detect"), cfg["threads"]).val(
        data=data_yaml, split="val", imgsz=imgsz, batch=cfg["batch"], device=device,
        workers=cfg["workers"], plots=False, verbose=False, project=str(run_dir.resolve()),
        name="val", exist_ok=True, conf=0.001, iou=float(cfg["iou_nms"]),
    )
    box = result.box
    return {"split": "val", "precision": round(float(box.mp), 4), "recall": round(float(box.mr), 4),
            "mAP50": round(float(box.map50), 4), "mAP50-95": round(float(box.map), 4)}


