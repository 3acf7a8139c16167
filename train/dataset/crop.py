"""Chips cropped to their split's ground: pixels beyond a split edge masked like the collar."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import shapely
from rasterio.features import geometry_mask

from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.train.dataset.plan import ChipPlan

__all__ = ["crop_chip", "ground_in_chip_crs"]


def ground_in_chip_crs(plan: ChipPlan, crs, chip: Chip) -> shapely.Geometry:
    """The ground ``plan`` holds for its split (dataset ``crs``), in the chip's CRS."""
    if plan.region is None:
        return chip.polygon
    return reproject_geometry(plan.region, crs, chip.crs.to_wkt())


def crop_chip(chip: Chip, region: shapely.Geometry) -> Chip:
    """``chip`` with the pixels whose centre lies outside ``region`` (chip's CRS) masked.

    Masked pixels are black and invalid, as on the collar, so label clipping
    (:func:`poppyscan.train.dataset.boxes.chip_labels`) treats them alike.
    """
    if region.is_empty:
        inside = np.zeros_like(chip.valid)
    else:
        inside = geometry_mask([region], out_shape=chip.valid.shape, transform=chip.transform,
                               invert=True)
    valid = chip.valid & inside
    return replace(chip, pixels=np.where(valid[..., None], chip.pixels, 0).astype(chip.pixels.dtype),
                   valid=valid)
