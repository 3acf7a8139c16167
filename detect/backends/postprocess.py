"""Pre- and post-processing of YOLO outputs in numpy, for the runtimes without torch.

Mirrors :class:`poppyscan.detect.predictor.YoloPredictor`, which runs Ultralytics'
``non_max_suppression``: the best class per box, a strict ``> conf`` threshold,
at most 30,000 candidates by confidence, class-aware greedy NMS with
torchvision's IoU (no +1 on widths, suppress when IoU > ``iou``), the first
``max_det`` survivors by confidence, and boxes clamped to the chip.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_nchw_float", "non_max_suppression", "nms_indices"]

MAX_WH = 7680  # Ultralytics' per-class coordinate offset that keeps classes apart in one NMS
MAX_NMS = 30_000  # Ultralytics' cap on boxes entering NMS


def to_nchw_float(images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    batch = images.transpose(0, 3, 1, 2).astype(np.float32)
    batch /= 255.0
    return batch


def non_max_suppression(raw: np.ndarray, *, conf: float, iou: float, max_det: int,
                        height: int, width: int) -> list[np.ndarray]:
    """YOLO head output (B, 4 + classes, anchors), xywh -> per chip (N, 6) xyxy, conf, class."""
    return [_one_chip(pred, conf, iou, max_det, height, width) for pred in raw]


def _one_chip(pred: np.ndarray, conf: float, iou: float, max_det: int, height: int,
              width: int) -> np.ndarray:
    class_scores = pred[4:]
    best = class_scores.max(0)
    keep = np.flatnonzero(best > conf)
    if not len(keep):
        return np.zeros((0, 6), dtype=np.float32)
    scores = best[keep]
    order = np.argsort(-scores, kind="stable")[:MAX_NMS]
    keep, scores = keep[order], scores[order]
    classes = class_scores[:, keep].argmax(0).astype(np.float32)
    cx, cy, w, h = pred[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kept = nms_indices(boxes + classes[:, None] * MAX_WH, iou)[:max_det]
    out = np.column_stack([boxes[kept], scores[kept], classes[kept]]).astype(np.float32)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def nms_indices(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS over xyxy ``boxes`` already sorted by descending score: kept row indices."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0) * (y1 - y0)
    alive = np.arange(len(boxes))
    kept = []
    while len(alive):
        i, rest = alive[0], alive[1:]
        kept.append(i)
        inter = (np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
                 * np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):  # empty boxes: NaN, never > iou
            overlap = inter / (areas[i] + areas[rest] - inter)
        alive = rest[~(overlap > iou)]
    return np.asarray(kept, dtype=np.int64)
