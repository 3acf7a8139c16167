"""Predictors: a batch of chips in, pixel boxes out.

:class:`YoloPredictor` runs an Ultralytics YOLO detector directly on a batch
tensor (no per-image letterboxing: chips are already the model's size), on CPU
in float32 or on CUDA in half precision. The faster CPU runtimes live in
:mod:`poppyscan.detect.backends`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from poppyscan.detect._ultralytics import configure_offline

__all__ = ["Predictor", "YoloPredictor", "resolve_device"]


class Predictor(Protocol):
    """Anything that maps a batch of RGB chips to boxes.

    Input: (B, H, W, 3) uint8. Output: one (N, 6) float array per chip with
    ``xmin, ymin, xmax, ymax, conf, class`` in chip pixels, clamped to the chip.
    ``backend`` names the runtime (``torch``, ``openvino``, ``onnxruntime``).
    """

    backend: str
    device: str
    conf: float

    def __call__(self, images: np.ndarray) -> list[np.ndarray]: ...


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when available else ``"cpu"``.

    torch is imported only where an NVIDIA GPU may be present or CUDA is asked for.
    """
    if device in (None, "auto"):
        # Without PyTorch (the base install) CUDA is out of reach: the CPU runtimes run.
        if not _nvidia_gpu_may_exist() or importlib.util.find_spec("torch") is None:
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        configure_offline("CUDA")
        import torch

        if not torch.cuda.is_available():
            from poppyscan.errors import ConfigError

            raise ConfigError(f"--device {device}: no CUDA device is available; use --device cpu")
    return device


def _nvidia_gpu_may_exist() -> bool:
    """False only where there is surely no usable NVIDIA GPU (checked without torch)."""
    if sys.platform == "darwin" or os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return any(Path("/dev").glob("nvidia[0-9]*")) or any(
            Path("/proc/driver/nvidia/gpus").glob("*"))
    return True


class YoloPredictor:
    """Ultralytics YOLO weights as a :class:`Predictor`."""

    backend = "torch"

    def __init__(
        self,
        weights: str,
        *,
        conf: float,
        iou: float = 0.5,
        device: str | None = None,
        half: bool | None = None,
        max_det: int = 300,
    ) -> None:
        configure_offline("the PyTorch backend")
        import torch

        from poppyscan.detect.safe_load import load_model

        self.device = resolve_device(device)
        self.half = self.device.startswith("cuda") if half is None else half
        self.precision = "f16" if self.half else "f32"
        model = load_model(weights)  # never runs code from the pickle
        if self.device == "cpu":  # Ultralytics' import sets OMP_NUM_THREADS=1
            from poppyscan.detect.cpu_threads import set_torch_threads

            set_torch_threads()
        model = model.fuse() if hasattr(model, "fuse") else model
        self.model = model.to(self.device).eval()
        self.model = self.model.half() if self.half else self.model.float()
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self._torch = torch

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        from ultralytics.utils.nms import non_max_suppression

        torch = self._torch
        batch = torch.from_numpy(np.ascontiguousarray(images))
        if self.device.startswith("cuda"):
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        x = batch.permute(0, 3, 1, 2)
        x = (x.half() if self.half else x.float()).div_(255.0)
        with torch.inference_mode():
            raw = self.model(x)
            out = non_max_suppression(raw, self.conf, self.iou, max_det=self.max_det)
            height, width = images.shape[1:3]
            for o in out:  # boxes may reach past the chip; keep them on it
                o[:, [0, 2]] = o[:, [0, 2]].clamp(0, width)
                o[:, [1, 3]] = o[:, [1, 3]].clamp(0, height)
        return [o.float().cpu().numpy() for o in out]


def batched(items, size: int):
    """Yield lists of up to ``size`` items."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

