"""Inference backends: which runtime runs a bundle's network, and its predictor.

=============  =========  ==========================================  ======================
backend        device     needs                                       precision
=============  =========  ==========================================  ======================
torch          cpu, cuda  ``weights.pt`` (always there)               f32 on CPU, f16 on CUDA
openvino       cpu        ``poppyscan[cpu]``; the IR or ONNX export   f32, or bf16 (see below)
onnxruntime    cpu        ``poppyscan[cpu]``; the ONNX export         f32
=============  =========  ==========================================  ======================

``auto`` runs torch on CUDA. On CPU it runs the first of openvino, onnxruntime
whose runtime is installed and whose export is in the bundle (see
:func:`export_bundle`), else torch: on a 2-core Xeon, OpenVINO ran YOLO11n
about 3x and ONNX Runtime about 1.6x as fast as PyTorch. The fast runtimes
never import torch, which saves about 750 MB of memory.

``precision="auto"`` runs OpenVINO in the precision the card's ``openvino``
export names (``precision: bf16``), written there only after a held-out
evaluation showed no loss (``scripts/train_demo_model.py precision``), on a
CPU with bfloat16 instructions; else f32.
bfloat16 ran about twice as fast as float32 on this project's Xeon (AMX); int8
post-training quantization (NNCF, either preset) ran no faster than bfloat16
beyond the machine's noise, and moved more boxes (``scripts/bench_precision.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from poppyscan.detect.backends.export import export_bundle
from poppyscan.detect.bundle import sha256_file
from poppyscan.detect.predictor import Predictor, YoloPredictor, resolve_device
from poppyscan.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from poppyscan.detect.bundle import ModelBundle

__all__ = ["BACKENDS", "choose_backend", "export_bundle", "export_file", "make_predictor"]

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
CPU_ORDER = ("openvino", "onnxruntime")  # fastest first
RUNS = {"openvino": ("openvino", "onnx"), "onnxruntime": ("onnx",)}  # exports each can run


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
                          "pip install 'poppyscan[cpu]'")
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
                   conf: float, iou: float, max_det: int = 300, precision: str = "auto") -> Predictor:
    """The predictor of :func:`choose_backend`; ``predictor.backend`` names it.

    ``precision``: ``auto`` (see the module docstring), ``f32`` or, for
    OpenVINO, ``bf16``; ``predictor.precision`` says what runs.
    """
    name = choose_backend(backend, device, bundle)
    if precision not in ("auto", "f32") and name != "openvino":
        raise ConfigError(f"precision={precision!r} runs on the openvino backend only, not {name}")
    if name == "torch":
        return YoloPredictor(str(bundle.weights_path), conf=conf, iou=iou, device=device,
                             max_det=max_det)
    path = export_file(bundle, name)
    _verify(bundle, path)
    if name == "openvino":
        from poppyscan.detect.backends.openvino_predictor import OpenVinoPredictor, cpu_has_bf16

        if precision == "auto":
            precision = bundle.card["exports"]["openvino" if path.suffix == ".xml" else "onnx"].get(
                "precision", "f32")
            if precision == "bf16" and not cpu_has_bf16():  # emulated bfloat16 is slower
                precision = "f32"
        return OpenVinoPredictor(path, conf=conf, iou=iou, max_det=max_det, precision=precision)
    from poppyscan.detect.backends.onnx_predictor import OnnxRuntimePredictor

    return OnnxRuntimePredictor(path, conf=conf, iou=iou, max_det=max_det)


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _verify(bundle: ModelBundle, path: Path) -> None:
    """Check the sha256 of the export's files against the card."""
    entry = next(e for e in bundle.card["exports"].values() if e["file"] == path.name)
    files = [(entry["file"], entry["sha256"])]
    if "data_file" in entry:
        files.append((entry["data_file"], entry["data_sha256"]))
    for name, digest in files:
        if sha256_file(bundle.path / name) != digest:
            raise ModelError(f"{bundle.path / name}: sha256 does not match the card "
                             "(export replaced or corrupt); rerun export_bundle")
