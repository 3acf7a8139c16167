"""The field project drawn by QGIS itself: the imagery covers the base layers only where it has data.

A flight covers the west half of the field (the orthomosaic's alpha band is 0
east of 20 m). Its package's imagery layer is rendered offscreen by QGIS
(``qgis_render.py``) onto a transparent background, and every pixel is checked
against the flight's valid area.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from poppyscan.field import write_field_package
from poppyscan.field.registry import record_run
from tests.data.rasters import ORIGIN
from tests.field.flights import FIELD_M, make_flight, publish_run
from tests.field.test_field_package import QGIS_PYTHON, _qgis_available

COVERED_X_M = 20.0
MARGIN_M = 1.0  # resampling onto the 0.25 m imagery grid and the render blur the edge this much


@pytest.mark.skipif(not _qgis_available(), reason="QGIS's Python bindings (python3-qgis) absent")
def test_qgis_draws_no_opaque_pixel_outside_the_imagerys_valid_area(tmp_path):
    flight = make_flight(tmp_path / "west.tif", gsd_m=0.05, covered_x_m=COVERED_X_M)
    registry = tmp_path / "area.gpkg"
    record_run(registry, publish_run([flight], tmp_path / "run", mission="M1",
                                     created_at="2026-03-01T08:00:00Z"))
    package = write_field_package(registry, tmp_path / "pack")
    png = tmp_path / "imagery.png"
    done = subprocess.run([QGIS_PYTHON, str(Path(__file__).with_name("qgis_render.py")),
                           str(package.paths["pack.qgz"]), "Imagery", str(png), "1200"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["valid"] and report["crs"] == "EPSG:3857"
    alpha = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)[..., 3]
    inside, outside = _valid_area_masks(report["extent"], alpha.shape)
    assert outside.sum() > 0.5 * alpha.size  # most of the imagery's extent holds no data
    assert int(alpha[outside].max()) == 0  # nothing drawn there: the base layers show
    assert (alpha[inside] == 255).mean() > 0.99  # the flown ground is drawn, opaque


def _valid_area_masks(extent, shape) -> tuple[np.ndarray, np.ndarray]:
    """Pixels surely inside / surely outside the flight's valid area, in the rendered image."""
    x0, y0 = ORIGIN
    valid = shapely.box(x0, y0 - FIELD_M[1], x0 + COVERED_X_M, y0)
    to_mercator = Transformer.from_crs("EPSG:32647", "EPSG:3857", always_xy=True)
    valid = shapely.transform(valid.segmentize(1.0), lambda xy: np.column_stack(
        to_mercator.transform(xy[:, 0], xy[:, 1])))
    height, width = shape
    xmin, ymin, xmax, ymax = extent
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x = xmin + cols * (xmax - xmin) / width
    y = ymax - rows * (ymax - ymin) / height
    points = shapely.points(x, y)
    inside = shapely.contains_xy(valid.buffer(-MARGIN_M), x, y)
    outside = ~shapely.intersects(valid.buffer(MARGIN_M), points)
    return inside, outside
