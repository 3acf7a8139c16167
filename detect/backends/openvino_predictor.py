"""OpenVINO on CPU as a :class:`~poppyscan.detect.predictor.Predictor` (no torch).

The uint8 NHWC batch goes straight in: conversion to float, scaling and the
NCHW transpose are compiled into the model.

Precision is float32 unless asked, not the runtime's own default for the CPU
(bfloat16 on CPUs with AMX or AVX512-BF16): bfloat16 ran about twice as fast
on this project's Xeon but moved confidences by up to 0.015 and boxes by up
to 1 px, so boxes near the threshold came and went (2 of 3 test surveys) and
targets no longer matched PyTorch's. A bundle runs it by default only when
its card says a held-out evaluation found no loss (see
:mod:`poppyscan.detect.backends`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from poppyscan.detect import runtime
from poppyscan.detect.backends.postprocess import non_max_suppression
from poppyscan.errors import ConfigError

__all__ = ["OpenVinoPredictor", "PRECISIONS", "cpu_has_bf16", "model_cache_dir"]

PRECISIONS = tuple(p for p in runtime.PRECISIONS if p != "auto")  # what OpenVINO computes in


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX), as OpenVINO sees it."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def model_cache_dir(core, key: str) -> Path:
    """OpenVINO's model cache for one exported network (``key``: its sha256) on this CPU.

    Under poppyscan's cache (``$POPPYSCAN_CACHE``), one folder per network and
    device, so a cache shared between machines never hands one CPU another's
    compiled code; OpenVINO keys each blob by the model and compile settings too.
    """
    from poppyscan.detect._ultralytics import cache_dir

    name = core.get_property("CPU", "FULL_DEVICE_NAME")
    device = "CPU-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    path = cache_dir() / "openvino" / key / device
    path.mkdir(parents=True, exist_ok=True)
    return path


class OpenVinoPredictor:
    """An exported network (OpenVINO IR or ONNX) on OpenVINO's CPU plugin.

    Chips run one per request on the plugin's throughput streams (one per core
    here), not as one batch on all cores: on 2 busy cores that took about 10 %
    less CPU per chip and a quarter less memory than batches of 8.
    """

    backend = "openvino"
    device = "cpu"

    def __init__(self, model_path: str | os.PathLike, *, conf: float, iou: float = 0.5,
                 max_det: int = 300, precision: str = "f32", cache_key: str | None = None) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision={precision!r}: choose from {', '.join(PRECISIONS)}")
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        if cache_key:  # compiled networks, reused by the next run: see model_cache_dir
            self._core.set_property({"CACHE_DIR": str(model_cache_dir(self._core, cache_key))})
        self._model_path = str(model_path)
        self._queues: dict[tuple[int, int], object] = {}
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.precision = precision  # what the CPU plugin runs, once compiled

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        height, width = images.shape[1:3]
        queue = self._queue(height, width)
        images = np.ascontiguousarray(images)
        raw: list[np.ndarray | None] = [None] * len(images)
        for i in range(len(images)):
            queue.start_async({0: images[i:i + 1]}, (raw, i), share_inputs=True)
        queue.wait_all()
        return non_max_suppression(np.concatenate(raw), conf=self.conf, iou=self.iou,
                                   max_det=self.max_det, height=height, width=width)

    def _queue(self, height: int, width: int):
        """Infer requests compiled for one chip of this size, one per throughput stream."""
        if (height, width) not in self._queues:
            ov = self._ov
            model = self._core.read_model(self._model_path)
            model.reshape([1, 3, height, width])
            ppp = ov.preprocess.PrePostProcessor(model)
            ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
            ppp.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
            ppp.input().model().set_layout(ov.Layout("NCHW"))
            compiled = self._core.compile_model(ppp.build(), "CPU", {
                "PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": self.precision})
            self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            queue = ov.AsyncInferQueue(compiled)
            queue.set_callback(_keep_output)
            self._queues[(height, width)] = queue
        return self._queues[(height, width)]


def _keep_output(request, slot) -> None:
    results, i = slot
    results[i] = request.get_output_tensor(0).data.copy()
