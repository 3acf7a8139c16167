"""Orthomosaics in, georeferenced chips out: the tile grid and chip reader.

``tiles`` knows nothing of models. Training and inference both read chips
through :func:`iter_chips` / :class:`ChipReader`, so chips look the same in both.
"""

from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import (
    pixel_box_to_polygon,
    pixel_boxes_to_polygons,
    polygon_to_pixel_box,
)
from poppyscan.tiles.grid import GridCell, GridSpec, chip_grid, grid_shape_px, grid_transform
from poppyscan.tiles.plan import ChipBlock, RasterPlan, plan_raster
from poppyscan.tiles.raster import RasterInfo, inspect_raster, open_dataset, overview_read
from poppyscan.tiles.reader import ChipReader, cells_for
from poppyscan.tiles.stream import (
    DEFAULT_MIN_VALID_FRAC,
    ChipStats,
    iter_chips,
    read_cells,
    with_progress,
)

__all__ = [
    "Chip",
    "ChipBlock",
    "ChipReader",
    "ChipStats",
    "DEFAULT_MIN_VALID_FRAC",
    "GridCell",
    "GridSpec",
    "RasterInfo",
    "RasterPlan",
    "cells_for",
    "chip_grid",
    "grid_shape_px",
    "grid_transform",
    "inspect_raster",
    "iter_chips",
    "open_dataset",
    "overview_read",
    "pixel_box_to_polygon",
    "pixel_boxes_to_polygons",
    "plan_raster",
    "read_cells",
    "with_progress",
    "polygon_to_pixel_box",
]
