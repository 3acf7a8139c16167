"""ONNX Runtime on CPU as a :class:`~poppyscan.detect.predictor.Predictor` (no torch)."""

from __future__ import annotations

import os

import numpy as np

from poppyscan.detect.backends.postprocess import non_max_suppression, to_nchw_float

__all__ = ["OnnxRuntimePredictor"]


class OnnxRuntimePredictor:
    """An exported ONNX network on ONNX Runtime's CPU execution provider, in float32."""

    backend = "onnxruntime"
    device = "cpu"
    precision = "f32"

    def __init__(self, model_path: str | os.PathLike, *, conf: float, iou: float = 0.5,
                 max_det: int = 300) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers would spin and take the cores the chip readers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path), options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.conf, self.iou, self.max_det = conf, iou, max_det

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        height, width = images.shape[1:3]
        raw = self._session.run(None, {self._input: to_nchw_float(images)})[0]
        return non_max_suppression(raw, conf=self.conf, iou=self.iou, max_det=self.max_det,
                                   height=height, width=width)
