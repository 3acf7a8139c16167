"""Split helpers on constructed cases: blocks, the val guarantee, cropping a chip."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from poppyscan.tiles.chip import Chip
from poppyscan.train.dataset.crop import crop_chip
from poppyscan.train.dataset.split import block_box, block_of, give_val_labels


def test_block_box_holds_the_points_block_of_puts_there():
    origin, block_m = (1000.0, 5000.0), 28.8
    square = block_box((1, 2), origin, block_m)
    assert square.bounds == (1057.6, 4942.4, 1086.4, 4971.2)
    assert block_of(*square.centroid.coords[0], origin, block_m) == (1, 2)


def test_val_without_labels_takes_the_smallest_labelled_block_another_split_can_spare():
    splits = {"a": "train", "b": "train", "c": "test", "d": "val"}
    shown = {"a": 5, "b": 2, "c": 1}  # d shows no label
    assert give_val_labels(splits, shown) == "b"
    assert splits == {"a": "train", "b": "val", "c": "test", "d": "val"}
    assert give_val_labels(splits, shown) is None  # val has labels now


def test_val_is_left_alone_with_fewer_than_three_labelled_chips_or_nothing_to_spare():
    few = {"a": "train", "b": "test"}
    assert give_val_labels(few, {"a": 1, "b": 1}) is None and few == {"a": "train", "b": "test"}
    one_block = {"a": "train", "v": "val"}
    assert give_val_labels(one_block, {"a": 9}) is None  # moving it would empty train


def test_a_cropped_chip_masks_pixels_beyond_its_ground_like_the_collar():
    transform = Affine(0.1, 0, 0, 0, -0.1, 12.8)  # 128 px chip over x 0-12.8, y 0-12.8 m
    pixels = np.full((128, 128, 3), 200, dtype="uint8")
    valid = np.ones((128, 128), dtype=bool)
    valid[:, 120:] = False  # collar on the right
    chip = Chip(pixels, valid, transform, CRS.from_epsg(32647), 0, 0, "a.tif",
                Window(0, 0, 128, 128), 0.1)
    cropped = crop_chip(chip, shapely.box(0, 0, 9.6, 12.8))  # a split edge at x = 9.6 m
    assert cropped.valid[:, :96].all() and not cropped.valid[:, 96:].any()
    assert (cropped.pixels[:, 96:] == 0).all() and (cropped.pixels[:, :96] == 200).all()
    assert cropped.valid_area().symmetric_difference(shapely.box(0, 0, 9.6, 12.8)).area < 1e-9
    assert chip.valid[:, 100].all()  # the chip read is left as it was
