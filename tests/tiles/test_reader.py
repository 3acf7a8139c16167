"""Chips are exact: native chips equal a direct read, resampled chips sit where they claim."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from poppyscan.tiles import ChipReader, GridSpec, cells_for, inspect_raster, iter_chips
from tests.data.rasters import ORIGIN


@pytest.mark.parametrize("name", ["australia_drone_1p8cm.tif", "tiled_epsg28992.tif", "OSBS_029.tif"])
def test_native_chip_equals_direct_windowed_read(real_dir, name):
    """Equal to GDAL's pixels; a JPEG-tiled file's own decode differs in chroma upsampling only."""
    path = real_dir / name
    info = inspect_raster(path)
    spec = GridSpec(gsd_m=None, tile_px=256, overlap_px=40)
    with ChipReader(info, spec) as reader, rasterio.open(path) as src:
        decodes_jpeg = reader._tiles is not None
        assert decodes_jpeg == (name == "tiled_epsg28992.tif")  # the one RGB JPEG-tiled file
        for cell in cells_for(info, spec):
            chip = reader.read(cell)
            col, row = chip.window.col_off, chip.window.row_off
            assert col == int(col) and row == int(row)
            col, row = int(col), int(row)
            w, h = min(256, src.width - col), min(256, src.height - row)
            expected = src.read(window=Window(col, row, w, h)).transpose(1, 2, 0)
            assert chip.transform == src.window_transform(Window(col, row, w, h))
            valid = src.dataset_mask(window=Window(col, row, w, h)) > 0
            assert np.array_equal(chip.valid[:h, :w], valid)
            if decodes_jpeg:  # mean 0.16 levels here; shifted by one pixel it would be 1.7
                diff = np.abs(chip.pixels[:h, :w][valid].astype(int) - expected[valid])
                assert diff.max() <= 16 and diff.mean() < 0.5
            else:
                assert np.array_equal(chip.pixels[:h, :w][valid], expected[valid])
            assert (chip.pixels[:h, :w][~valid] == 0).all()
            assert not chip.valid[h:].any() and not chip.valid[:, w:].any()


def _square_raster(path, gsd_m, square_m):
    """A dark raster with one bright square whose map edges are ``square_m``."""
    width = height = int(round(40 / gsd_m))
    transform = Affine(gsd_m, 0, ORIGIN[0], 0, -gsd_m, ORIGIN[1])
    data = np.full((3, height, width), 20, dtype="uint8")
    (x0, y_bottom), (x1, y_top) = (~transform @ square_m[0:2]), (~transform @ square_m[2:4])
    data[:, round(y_top) : round(y_bottom), round(x0) : round(x1)] = 220
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs="EPSG:32647", transform=transform) as dst:
        dst.write(data)
    return path


def _bright_edges_m(chip):
    """Map coordinates of the bright square's edges, from half-brightness crossings."""
    profile_x = chip.pixels[..., 0].astype(float).max(axis=0)
    profile_y = chip.pixels[..., 0].astype(float).max(axis=1)

    def crossings(profile):
        level = (profile.max() + profile.min()) / 2
        above = profile >= level
        i0, i1 = np.argmax(above), len(above) - np.argmax(above[::-1])
        # Sub-pixel: linear interpolation of the half-level crossing on each side.
        left = i0 - (profile[i0] - level) / max(profile[i0] - profile[i0 - 1], 1e-9)
        right = i1 + (profile[i1 - 1] - level) / max(profile[i1 - 1] - profile[i1], 1e-9)
        return left + 0.5, right - 0.5

    (cx0, cx1), (cy0, cy1) = crossings(profile_x), crossings(profile_y)
    x0, y0 = chip.transform @ (cx0, cy0)
    x1, y1 = chip.transform @ (cx1, cy1)
    return x0, y1, x1, y0


@pytest.mark.parametrize("src_gsd_m", [0.02, 0.018, 0.08])
def test_resampled_chip_footprint_matches_ground(tmp_path, src_gsd_m):
    # Square edges on whole source pixels so the source itself is exact.
    e = lambda v: round(v / src_gsd_m) * src_gsd_m  # noqa: E731
    square = (ORIGIN[0] + e(11.0), ORIGIN[1] - e(27.0), ORIGIN[0] + e(23.0), ORIGIN[1] - e(13.0))
    path = _square_raster(tmp_path / "sq.tif", src_gsd_m, square)
    spec = GridSpec(gsd_m=0.05, tile_px=640, overlap_px=0)
    chip = next(iter_chips([path], spec))
    assert chip.gsd_m == 0.05 and chip.pixels.shape == (640, 640, 3)
    found = _bright_edges_m(chip)
    # Within a quarter of an output pixel (1.25 cm) of the true square.
    assert np.allclose(found, square, atol=0.25 * 0.05), (found, square)


def test_drone_fixture_at_1p8cm_gives_5cm_chips(real_dir):
    path = real_dir / "australia_drone_1p8cm.tif"
    spec = GridSpec(gsd_m=0.05, tile_px=128, overlap_px=16)
    chips = list(iter_chips([path], spec))
    assert len(chips) == 3 * 3  # 271 x 255 px at 5 cm, stride 112
    with rasterio.open(path) as src:
        for chip in chips:
            assert chip.transform.a == 0.05 and chip.transform.e == -0.05
            assert chip.window.width == pytest.approx(128 * 0.05 / 0.018)
            inside = chip.window.col_off + chip.window.width <= src.width and (
                chip.window.row_off + chip.window.height <= src.height)
            if inside:  # identical to GDAL's own resampled read of the same fractional window
                direct = src.read(window=chip.window, out_shape=(3, 128, 128),
                                  resampling=rasterio.enums.Resampling.average)
                direct = direct.transpose(1, 2, 0)
                assert np.array_equal(chip.pixels[chip.valid], direct[chip.valid])
            else:  # the part past the raster's edge is padding
                assert not chip.valid[-1].any() or not chip.valid[:, -1].any()
        assert sum(1 for c in chips if c.valid.all()) == 4
