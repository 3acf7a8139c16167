import pytest
from affine import Affine

from poppyscan.errors import ConfigError
from poppyscan.tiles import GridSpec, chip_grid, grid_shape_px, grid_transform

T = Affine(0.05, 0, 1000.0, 0, -0.05, 2000.0)


def test_last_partial_chip_is_kept_not_shifted():
    cells = chip_grid(T, 1000, 640, tile_px=640, overlap_px=128)
    assert [(c.row, c.col) for c in cells] == [(0, 0), (0, 1)]
    # The second chip starts one stride in and runs past the edge (to be padded).
    assert cells[1].transform.c == pytest.approx(1000.0 + 512 * 0.05)
    assert cells[1].transform.c + 640 * 0.05 > 1000.0 + 1000 * 0.05


def test_exact_fit_adds_no_extra_chip():
    cells = chip_grid(T, 640 + 2 * 512, 640, tile_px=640, overlap_px=128)
    assert max(c.col for c in cells) == 2


def test_raster_smaller_than_one_chip_gives_one_padded_chip():
    cells = chip_grid(T, 100, 50, tile_px=640, overlap_px=128)
    assert len(cells) == 1 and cells[0].transform == T


def test_neighbours_overlap_by_overlap_px():
    a, b = chip_grid(T, 1200, 640, tile_px=640, overlap_px=128)[:2]
    overlap_m = a.bounds[2] - b.bounds[0]
    assert overlap_m == pytest.approx(128 * 0.05)


def test_cell_polygon_is_exact_ground_footprint():
    cell = chip_grid(T, 640, 640, tile_px=640, overlap_px=0)[0]
    assert cell.bounds == pytest.approx((1000.0, 2000.0 - 32.0, 1032.0, 2000.0))


@pytest.mark.parametrize(
    "kwargs", [dict(gsd_m=0), dict(tile_px=8), dict(overlap_px=640), dict(overlap_px=-1)]
)
def test_bad_grid_spec_is_rejected(kwargs):
    with pytest.raises(ConfigError):
        GridSpec(**{"gsd_m": 0.05, "tile_px": 640, "overlap_px": 128, **kwargs})


def test_grid_shape_in_ground_units():
    src = Affine(0.018, 0, 0, 0, -0.018, 0)
    # 751 x 708 px at 1.8 cm is 13.518 x 12.744 m: 271 x 255 px at 5 cm.
    assert grid_shape_px(src, 751, 708, 0.05) == (271, 255)
    assert grid_shape_px(src, 751, 708, None) == (751, 708)
    assert grid_shape_px(Affine(0.05, 0, 0, 0, -0.05, 0), 1000, 1000, 0.10) == (500, 500)


def test_grid_transform_is_anchored_at_top_left():
    src = Affine(0.018, 0, 278966.322, 0, -0.018, 8597744.154)
    assert grid_transform(src, 0.05) == Affine(0.05, 0, 278966.322, 0, -0.05, 8597744.154)
    assert grid_transform(src, None) is src
