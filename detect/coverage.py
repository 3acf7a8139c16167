"""The ground actually examined: valid pixels of the chips that were processed."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes

from poppyscan.tiles.chip import Chip

__all__ = ["chip_coverage"]

COVERAGE_CELL_PX = 16  # coverage is traced on 16 px cells (80 cm at 5 cm GSD)


def chip_coverage(chip: Chip, cell_px: int = COVERAGE_CELL_PX):
    """Polygon of the chip's valid area, traced on ``cell_px`` cells (mostly-valid cells count)."""
    if chip.valid.all():
        return chip.polygon
    size = chip.size_px
    n = size // cell_px
    cells = (
        chip.valid[: n * cell_px, : n * cell_px].reshape(n, cell_px, n, cell_px).mean(axis=(1, 3))
    )
    mask = (cells >= 0.5).astype("uint8")
    transform = chip.transform @ Affine.scale(cell_px)
    polygons = [
        shapely.geometry.shape(geom)
        for geom, value in shapes(mask, mask=mask > 0, transform=transform)
    ]
    return shapely.union_all(np.array(polygons, dtype=object)) if polygons else shapely.Polygon()
