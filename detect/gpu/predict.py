"""The model on a device batch: (B, 3, H, W) uint8 already on the device in, pixel boxes out.

:class:`~poppyscan.detect.predictor.YoloPredictor` takes host arrays; the GPU
feed's batches are already on the device, so this runs the same network with
the same thresholds on them directly (fp16 on CUDA), with no host round trip
until the boxes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from poppyscan.detect.predictor import YoloPredictor

if TYPE_CHECKING:
    import torch

__all__ = ["DevicePredictor"]


class DevicePredictor:
    """A :class:`YoloPredictor`'s network and thresholds, called on device tensors."""

    def __init__(self, predictor: YoloPredictor) -> None:
        import torch

        self.predictor = predictor
        self.device = torch.device(predictor.device)
        self.dtype = torch.float16 if predictor.half else torch.float32

    def __call__(self, images: torch.Tensor) -> list[np.ndarray]:
        """Boxes (N, 6: xyxy, conf, class) in chip pixels, one array per image."""
        import torch
        from ultralytics.utils.nms import non_max_suppression

        p = self.predictor
        x = images.to(self.device, non_blocking=True).to(self.dtype).div_(255.0)
        height, width = x.shape[2:]
        with torch.inference_mode():
            out = non_max_suppression(p.model(x), p.conf, p.iou, max_det=p.max_det)
            for o in out:  # boxes may reach past the chip; keep them on it
                o[:, [0, 2]] = o[:, [0, 2]].clamp(0, width)
                o[:, [1, 3]] = o[:, [1, 3]].clamp(0, height)
        return [o.float().cpu().numpy() for o in out]
