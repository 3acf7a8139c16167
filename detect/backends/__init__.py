"""Inference backends: which runtime runs a bundle's network, and its predictor.

=============  =========  ==========================================  ======================
backend        device     needs                                       precision
=============  =========  ==========================================  ======================
torch          cpu, cuda  ``poppyscan[train]``; ``weights.pt``        f32 on CPU, f16 on CUDA
openvino       cpu        the base install; the IR or ONNX export     f32, or bf16 (see below)
onnxruntime    cpu        ``poppyscan[cpu]``; the ONNX export         f32
=============  =========  ==========================================  ======================

``auto`` runs torch on CUDA. On CPU it runs the first of openvino, onnxruntime
whose runtime is installed and whose export is in the bundle (see
:func:`export_bundle`), else torch: on a 2-core Xeon, OpenVINO ran YOLO11n
about 3x and ONNX Runtime about 1.6x as fast as PyTorch. The fast runtimes
never import torch, which saves about 750 MB of memory.

``precision="auto"`` runs OpenVINO in bfloat16 only on a CPU that computes it
natively (AMX or AVX512-BF16) and when the card's export has a bf16 threshold
whose held-out recall and precision stayed within 0.01 of float32's
(:mod:`~poppyscan.detect.backends.precision`, written by
``scripts/train_demo_model.py precision``); else f32. Each precision runs at its
own threshold from the card. ``predictor.fallback`` says, in one line, when a
slower backend or precision than this machine could run was chosen, and why.
bfloat16 ran about twice as fast as float32 on this project's Xeon (AMX); int8
post-training quantization (NNCF, either preset) ran no faster than bfloat16
beyond the machine's noise, and moved more boxes (``scripts/bench_precision.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from poppyscan.detect.backends.export import export_bundle
from poppyscan.detect.backends.precision import auto_precision, conf_for
from poppyscan.detect.bundle import sha256_file
from poppyscan.detect.predictor import Predictor, YoloPredictor, resolve_device
from poppyscan.detect.runtime import BACKENDS
from poppyscan.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from poppyscan.detect.bundle import ModelBundle

__all__ = ["BACKENDS", "choose_backend", "export_bundle", "export_file", "make_predictor"]

CPU_ORDER = ("openvino", "onnxruntime")  # fastest first
RUNS = {"openvino": ("openvino", "onnx"), "onnxruntime": ("onnx",)}  # exports each can run
LABELS = {"torch": "PyTorch", "openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}


def choose_backend(backend: str, device: str | None, bundle: ModelBundle) -> str:
    """The backend that will run ``bundle`` on ``device`` (see the module table)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r}: choose from {', '.join(BACKENDS)}")
    device = resolve_device(device)
    if backend == "auto":
        if device != "cpu":
            return "torch"
        usable = [b for b in CPU_ORDER if _installed(b) and export_file(bundle, b) is not None]
        return usable[0] if usable else "torch"
    if backend == "torch":
        return backend
    if device != "cpu":
        raise ConfigError(f"backend {backend} runs on the CPU only: use device cpu or backend torch")
    if not _installed(backend):
        raise ConfigError(f"backend {backend}: the runtime is not installed; "
                          f"pip install {backend} (or 'poppyscan[cpu]' for both CPU runtimes)")
    if export_file(bundle, backend) is None:
        raise ModelError(f"{bundle.path}: no current export for {backend}; make one with "
                         "poppyscan.detect.backends.export_bundle(bundle_dir)")
    return backend


def export_file(bundle: ModelBundle, backend: str) -> Path | None:
    """The exported network ``backend`` runs, when the bundle has one made from its weights."""
    exports = bundle.card.get("exports") or {}
    for fmt in RUNS.get(backend, ()):
        entry = exports.get(fmt)
        if (entry and entry.get("source_sha256") == bundle.card["weights"]["sha256"]
                and (bundle.path / entry["file"]).is_file()):
            return bundle.path / entry["file"]
    return None


def make_predictor(bundle: ModelBundle, *, backend: str = "auto", device: str | None = "auto",
                   conf: float | None, iou: float, max_det: int = 300,
                   precision: str = "auto") -> Predictor:
    """The predictor of :func:`choose_backend`; ``predictor.backend`` names it.

    ``precision``: ``auto`` (see the module docstring), ``f32`` or, for
    OpenVINO, ``bf16``; ``predictor.precision`` says what runs. ``conf=None``:
    the card's threshold for that precision.
    """
    name = choose_backend(backend, device, bundle)
    if precision not in ("auto", "f32") and name != "openvino":
        raise ConfigError(f"precision={precision!r} runs on the openvino backend only, not {name}")
    notes = [_backend_note(name, resolve_device(device))] if backend == "auto" else []
    if name == "torch":
        predictor = YoloPredictor(str(bundle.weights_path), conf=_conf(bundle, conf), iou=iou,
                                  device=device, max_det=max_det)
    elif name == "openvino":
        predictor = _openvino(bundle, conf, iou, max_det, precision, notes)
    else:
        from poppyscan.detect.backends.onnx_predictor import OnnxRuntimePredictor

        path = export_file(bundle, name)
        _verify(bundle, path)
        predictor = OnnxRuntimePredictor(path, conf=_conf(bundle, conf), iou=iou, max_det=max_det)
    predictor.fallback = "; ".join(n for n in notes if n) or None
    return predictor


def _openvino(bundle: ModelBundle, conf: float | None, iou: float, max_det: int, precision: str,
              notes: list) -> Predictor:
    from poppyscan.detect.backends.openvino_predictor import OpenVinoPredictor, cpu_has_bf16

    path = export_file(bundle, "openvino")
    _verify(bundle, path)
    entry = bundle.card["exports"]["openvino" if path.suffix == ".xml" else "onnx"]
    if precision == "auto":
        precision, note = auto_precision(entry, cpu_has_bf16())
        notes.append(note)
    conf = conf_for(entry, precision, bundle.conf) if conf is None else conf
    return OpenVinoPredictor(path, conf=conf, iou=iou, max_det=max_det, precision=precision,
                             cache_key=_cache_key(bundle, entry))


def _cache_key(bundle: ModelBundle, entry: dict) -> str:
    """The bundle's weights and the export's files, as sha256 prefixes."""
    return "-".join(digest[:16] for digest in (bundle.card["weights"]["sha256"], entry["sha256"],
                                               entry.get("data_sha256", "")) if digest)


def _conf(bundle: ModelBundle, conf: float | None) -> float:
    return bundle.conf if conf is None else conf


def _backend_note(name: str, device: str) -> str | None:
    """Why ``auto`` chose ``name`` over a faster CPU runtime, if it did (None on CUDA)."""
    if device != "cpu":
        return None
    faster = CPU_ORDER[:CPU_ORDER.index(name)] if name in CPU_ORDER else CPU_ORDER
    why = [f"{b} {'has no current export in the bundle' if _installed(b) else 'is not installed'}"
           for b in faster]
    return f"{LABELS[name]}, a slower backend: {', '.join(why)}" if why else None


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _verify(bundle: ModelBundle, path: Path) -> None:
    """Check the sha256 of the files the runtime will load (the export and OpenVINO's .bin)."""
    entry = next((e for e in (bundle.card.get("exports") or {}).values()
                  if (bundle.path / e["file"]).resolve() == path.resolve()), None)
    if entry is None:
        raise ModelError(f"{bundle.path}: no export in the card names {path.name}")
    files = [(path, entry.get("sha256"))]
    if path.suffix == ".xml":  # OpenVINO loads the .bin of the same name, whatever the card says
        loaded = path.with_suffix(".bin")
        if (bundle.path / entry.get("data_file", "")).resolve() != loaded.resolve():
            raise ModelError(f"{bundle.path}: the card's data_file for {path.name} is not "
                             f"{loaded.name}, the file OpenVINO loads")
        files.append((loaded, entry.get("data_sha256")))
    for loaded, digest in files:
        if not loaded.is_file():
            raise ModelError(f"{loaded}: export file missing; rerun export_bundle")
        if sha256_file(loaded) != digest:
            raise ModelError(f"{loaded}: sha256 does not match the card "
                             "(export replaced or corrupt); rerun export_bundle")
