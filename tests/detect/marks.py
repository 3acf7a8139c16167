"""Constructed rasters with known marks, and a predictor that finds them.

The predictor is not a model: it finds red squares by colour, so detection
tests check the pipeline (grid, transforms, merge, collar, files) exactly.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine

from tests.data.rasters import ORIGIN

RED = (220, 30, 30)


def make_marked_raster(path: Path, size_px: tuple[int, int], marks_px, *, gsd_m: float = 0.05,
                       origin=ORIGIN, crs: str = "EPSG:32647", alpha_box=None) -> Path:
    """Grey-green noise with red rectangles at ``marks_px`` (xmin, ymin, xmax, ymax pixels).

    ``alpha_box`` (xmin, ymin, xmax, ymax) limits the valid area; outside it the
    alpha band is 0.
    """
    width, height = size_px
    rng = np.random.default_rng(7)
    rgb = rng.integers(60, 110, (height, width, 3), dtype="uint8")
    for x0, y0, x1, y1 in marks_px:
        rgb[y0:y1, x0:x1] = RED
    alpha = np.full((height, width), 255, dtype="uint8")
    if alpha_box is not None:
        alpha[:] = 0
        x0, y0, x1, y1 = alpha_box
        alpha[y0:y1, x0:x1] = 255
    profile = dict(driver="GTiff", width=width, height=height, count=4, dtype="uint8", crs=crs,
                   transform=Affine(gsd_m, 0, origin[0], 0, -gsd_m, origin[1]), tiled=True,
                   blockxsize=256, blockysize=256, photometric="RGB")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(rgb, -1, 0), [1, 2, 3])
        dst.write(alpha, 4)
        dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                           rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    return path


class MarkPredictor:
    """Boxes around red blobs of at least ``min_px`` pixels, conf 0.9."""

    conf = 0.5  # the threshold it stands for (run.json and the resume fingerprint record it)

    def __init__(self, min_px: int = 4) -> None:
        self.min_px = min_px
        self.calls = 0

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        self.calls += 1
        out = []
        for image in images:
            red = (image[..., 0] > 160) & (image[..., 1] < 90) & (image[..., 2] < 90)
            n, _, stats, _ = cv2.connectedComponentsWithStats(red.astype("uint8"), connectivity=4)
            boxes = [[x, y, x + w, y + h, 0.9, 0] for x, y, w, h, area in stats[1:] if area >= self.min_px]
            out.append(np.array(boxes, dtype="float32").reshape(-1, 6))
        return out


class FixedBoxPredictor:
    """Returns the same boxes for every chip."""

    def __init__(self, boxes) -> None:
        self.boxes = np.asarray(boxes, dtype="float32").reshape(-1, 6)

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        return [self.boxes.copy() for _ in images]


# Marks spread over a 1400 px raster: with 128 px chips, several blocks of 8 x 8 chips.
MISSION_MARKS = [(100 + 250 * i, 80 + 230 * j, 130 + 250 * i, 110 + 230 * j)
                 for i in range(5) for j in range(6)]


def make_odm_mission(root: Path) -> Path:
    """Two OpenDroneMap projects (f11, f12: 12.5 m east) whose orthomosaics share one file name."""
    for name, shift in (("f11", 0.0), ("f12", 12.5)):
        path = root / name / "odm_orthophoto" / "odm_orthophoto.tif"
        path.parent.mkdir(parents=True)
        make_marked_raster(path, (1400, 1400), MISSION_MARKS, origin=(500_000.0 + shift, 2_000_000.0))
    return root
