"""Detection runs built by hand, in metres east and north of ORIGIN: no raster, no model."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import shapely
from pyproj import CRS

from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import DEFAULT_MERGE
from poppyscan.detect.pipeline import DetectionResult
from poppyscan.tiles import ChipStats
from poppyscan.train.truth import TruthPlots
from tests.data.rasters import ORIGIN, UTM_47N

STRIDE_M, TILE_M = 9.6, 12.8  # 192 px stride, 256 px chips at 5 cm


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A rectangle from local metres (east, north of ORIGIN) to UTM 47N."""
    return shapely.box(ORIGIN[0] + x0, ORIGIN[1] + y0, ORIGIN[0] + x1, ORIGIN[1] + y1)


def chip_box(col: int) -> shapely.Polygon:
    """Chip (0, col) of a row of chips along y 0..12.8 m."""
    return box(col * STRIDE_M, 0.0, col * STRIDE_M + TILE_M, TILE_M)


def detection(x0, y0, x1, y1, conf: float, *, col: int = 0, source: str = "a.tif",
              cls: int = 0) -> Detection:
    """A box of class ``cls`` seen by chip (0, ``col``), clipped to it; cut when it reaches the
    chip's edge."""
    chip = chip_box(col)
    polygon = box(x0, y0, x1, y1).intersection(chip)
    cut = any(abs(a - b) < 0.1 for a, b in zip(polygon.bounds, chip.bounds, strict=True))
    return Detection(polygon, conf, cls, source, (0, col), chip, cut)


def run(detections: Sequence[Detection], coverage: shapely.Geometry, *, source: str = "a.tif",
        seconds: float = 1.0, crs: str = UTM_47N) -> DetectionResult:
    """A finished run over one raster named ``source`` whose examined ground is ``coverage``."""
    stats = ChipStats()
    stats.count(source, "planned", 3)
    stats.count(source, "read", 2)
    return DetectionResult(CRS(crs), [SimpleNamespace(path=f"/surveys/{source}")], list(detections),
                           DEFAULT_MERGE.apply(detections), coverage, stats, 1, {"total": seconds})


def truth(*plots: shapely.Polygon, stage: str | None = None, source: str = "",
          classes: Sequence[str] = ()) -> TruthPlots:
    return TruthPlots(np.array(plots, dtype=object), (stage,) * len(plots), CRS(UTM_47N), source,
                      tuple(classes))
