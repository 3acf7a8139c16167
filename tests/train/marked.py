"""A raster of red marks and its truth plots, and a predictor that boxes red blobs: scoring
tests with a known answer, no model."""

from __future__ import annotations

import cv2
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyogrio.raw import write as ogr_write
from pyproj import CRS

from poppyscan.tiles.geometry import pixel_box_to_polygon
from tests.data.rasters import ORIGIN, UTM_47N

TRANSFORM = Affine(0.1, 0, ORIGIN[0], 0, -0.1, ORIGIN[1])
AREA_KM2 = 51.2 * 51.2 / 1e6  # the 512 x 512 px raster at 10 cm
# Red marks (pixel boxes, redness) and the truth plots (pixel boxes, stage):
MARKS = {
    "A": ([20, 20, 50, 50], 250),  # 9 m2 plot, found
    "B": ([200, 200, 260, 260], 200),  # 36 m2 plot, found but only at conf < 0.78
    "C": ([300, 40, 410, 150], 250),  # 121 m2 plot across four chips, found once
    "E": ([400, 400, 430, 430], 250),  # no plot there: a false target
}
PLOTS = {
    "A": ([20, 20, 50, 50], "rosette"),
    "B": ([200, 200, 260, 260], "flowering"),
    "C": ([300, 40, 410, 150], "capsule"),
    "D": ([50, 350, 90, 390], "rosette"),  # 16 m2, not visible: missed
}


class RednessPredictor:
    """Boxes around red blobs; confidence = the blob's redness (red channel / 255)."""

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        out = []
        for image in images:
            red = (image[..., 0] > 160) & (image[..., 1] < 90) & (image[..., 2] < 90)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(red.astype("uint8"), connectivity=4)
            boxes = [[x, y, x + w, y + h, image[..., 0][labels == k].mean() / 255, 0]
                     for k, (x, y, w, h, _) in enumerate(stats) if k > 0]
            out.append(np.array(boxes, dtype="float32").reshape(-1, 6))
        return out


def make_marked(tmp_path):
    """(ortho, truth file) of MARKS and PLOTS in ``tmp_path``."""
    rgb = np.random.default_rng(0).integers(60, 110, (3, 512, 512), dtype="uint8")
    for (x0, y0, x1, y1), redness in MARKS.values():
        rgb[:, y0:y1, x0:x1] = np.array([redness, 30, 30], dtype="uint8")[:, None, None]
    ortho = tmp_path / "marked.tif"
    with rasterio.open(ortho, "w", driver="GTiff", width=512, height=512, count=3, dtype="uint8",
                       crs=UTM_47N, transform=TRANSFORM) as dst:
        dst.write(rgb)
    polys = [pixel_box_to_polygon(TRANSFORM, *box) for box, _ in PLOTS.values()]
    truth = tmp_path / "plots.geojson"
    ogr_write(str(truth), shapely.to_wkb(np.array(polys, dtype=object)),
              [np.array([stage for _, stage in PLOTS.values()], dtype=object)], ["stage"],
              driver="GeoJSON", geometry_type="Polygon", crs=CRS(UTM_47N).to_wkt())
    return ortho, truth


