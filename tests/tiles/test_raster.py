"""Every bad input gets its one-line error; documented behaviours are tested."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from poppyscan.errors import ConfigError, RasterError
from poppyscan.tiles import GridSpec, inspect_raster, iter_chips
from tests.data.rasters import make_raster


def test_missing_file(tmp_path):
    with pytest.raises(RasterError, match="no such file"):
        inspect_raster(tmp_path / "nope.tif")


def test_not_a_raster(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("this is not a GeoTIFF")
    with pytest.raises(RasterError, match="notes.tif: not a readable raster"):
        inspect_raster(path)


def test_no_crs(tmp_path):
    path = make_raster(tmp_path / "nocrs.tif", 64, 64, crs=None)
    with pytest.raises(RasterError, match="nocrs.tif: has no CRS"):
        inspect_raster(path)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # written on purpose
def test_no_geotransform(tmp_path):
    path = make_raster(tmp_path / "nogt.tif", 64, 64, transform=Affine.identity())
    with pytest.raises(RasterError, match="nogt.tif: has no geotransform"):
        inspect_raster(path)


def test_rotated_geotransform(tmp_path):
    path = make_raster(tmp_path / "rot.tif", 64, 64, transform=Affine(0.05, 0.01, 5e5, 0.01, -0.05, 2e6))
    with pytest.raises(RasterError, match="rotated geotransform"):
        inspect_raster(path)


def test_truncated_file(tmp_path):
    path = make_raster(tmp_path / "cut.tif", 512, 512, tiled=True, blockxsize=256, blockysize=256)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(RasterError, match="cut.tif: (truncated or corrupt|not a readable raster)"):
        inspect_raster(path)


def test_image_smaller_than_one_chip_gives_one_padded_chip(tmp_path):
    path = make_raster(tmp_path / "small.tif", 100, 80)
    chips = list(iter_chips([path], GridSpec(gsd_m=None, tile_px=128, overlap_px=16)))
    assert len(chips) == 1
    chip = chips[0]
    assert chip.valid[:80, :100].all() and not chip.valid[80:].any() and not chip.valid[:, 100:].any()
    assert (chip.pixels[80:] == 0).all()


def test_geographic_crs_is_read_in_local_utm(tmp_path):
    deg = 0.05 / 111_000  # about 5 cm
    path = make_raster(tmp_path / "ll.tif", 200, 200, crs="EPSG:4326",
                       transform=Affine(deg, 0, 101.5, 0, -deg, 20.3))
    info = inspect_raster(path)
    assert info.warped and info.crs.to_epsg() == 32647  # 101.5 E is in UTM zone 47
    assert info.res_m[0] == pytest.approx(0.05, rel=0.1)
    chip = next(iter_chips([info], GridSpec(gsd_m=0.05, tile_px=64, overlap_px=0)))
    assert chip.crs.to_epsg() == 32647 and chip.transform.a == 0.05


def test_geographic_raster_beyond_utm_names_the_file(tmp_path):
    path = make_raster(tmp_path / "arctic.tif", 64, 64, crs="EPSG:4326",
                       transform=Affine(1e-6, 0, 10.0, 0, -1e-6, 86.0))
    with pytest.raises(RasterError, match="arctic.tif: no UTM zone at lon 10.0000, lat 86.0000"):
        inspect_raster(path)


def test_five_bands_need_a_band_choice(tmp_path):
    path = make_raster(tmp_path / "multi.tif", 64, 64, count=5)
    with pytest.raises(RasterError, match="choose three with bands"):
        inspect_raster(path)
    info = inspect_raster(path, bands=[3, 2, 1])
    chip = next(iter_chips([info], GridSpec(gsd_m=None, tile_px=64, overlap_px=0)))
    with rasterio.open(path) as src:
        assert np.array_equal(chip.pixels[..., 0], src.read(3))
    with pytest.raises(ConfigError, match="bands=\\[1, 2, 9\\]"):
        inspect_raster(path, bands=[1, 2, 9])


def test_sixteen_bit_stretch_is_per_raster_not_per_chip(tmp_path):
    path = tmp_path / "u16.tif"
    data = np.zeros((3, 128, 256), dtype="uint16")
    data[:, :, :128] = 1000  # left chip: dark and flat
    data[:, :, 128:] = np.linspace(1000, 3000, 128, dtype="uint16")  # right chip: a ramp
    with rasterio.open(path, "w", driver="GTiff", width=256, height=128, count=3, dtype="uint16",
                       crs="EPSG:32647", transform=Affine(0.05, 0, 5e5, 0, -0.05, 2e6)) as dst:
        dst.write(data)
    info = inspect_raster(path)
    assert info.stretch is not None
    left, right = iter_chips([info], GridSpec(gsd_m=None, tile_px=128, overlap_px=0))
    # The value 1000 maps to the same output brightness in both chips.
    assert left.pixels[0, 0, 0] == right.pixels[0, 0, 0]
    assert right.pixels[..., 0].max() > 240 and left.pixels.max() < 15
