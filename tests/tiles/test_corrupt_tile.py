"""A damaged JPEG tile is a RasterError naming the file and the tile (own decoder) or window (GDAL)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from poppyscan.errors import RasterError
from poppyscan.tiles import ChipReader, GridSpec, cells_for, inspect_raster
from tests.data.rasters import ORIGIN, UTM_47N

BLOCK_PX = 256


def write_jpeg_tiled(path) -> None:
    """512 x 512 px RGB, JPEG-compressed in 256 px tiles: smooth ramps plus seeded noise."""
    y, x = np.mgrid[0:512, 0:512]
    noise = np.random.default_rng(0).integers(0, 60, (3, 512, 512))
    data = (np.stack([x // 2, y // 2, (x + y) // 4]) % 256 * 0.7 + noise).astype("uint8")
    with rasterio.open(path, "w", driver="GTiff", width=512, height=512, count=3, dtype="uint8",
                       crs=UTM_47N, transform=from_origin(*ORIGIN, 0.05, 0.05), tiled=True,
                       blockxsize=BLOCK_PX, blockysize=BLOCK_PX, compress="JPEG",
                       photometric="YCBCR") as dst:
        dst.write(data)


def damage_tile(path, *, col: int, row: int) -> None:
    """Flip two bytes in the middle of one tile's JPEG data into a stray marker (FF D0).

    libjpeg notices this damage and warns. Other damage (e.g. 16 bytes zeroed)
    decodes into garbage without any warning: GDAL gives no signal to act on.
    """
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset + size // 2 : offset + size // 2 + 2] = b"\xff\xd0"
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "ortho.tif"
    write_jpeg_tiled(path)
    damage_tile(path, col=1, row=0)
    return path


def test_damaged_jpeg_tile_is_a_raster_error_naming_file_and_tile(damaged):
    """At the file's own GSD the reader decodes the tiles itself (tiles.jpeg_tiles.TileDecoder)."""
    info = inspect_raster(damaged)
    spec = GridSpec(gsd_m=None, tile_px=BLOCK_PX, overlap_px=0)
    cells = {(c.row, c.col): c for c in cells_for(info, spec)}
    with ChipReader(info, spec) as reader:
        assert reader.read(cells[(0, 0)]).valid.all()  # the sound tiles still read
        assert reader.read(cells[(1, 1)]).valid.all()
        with pytest.raises(RasterError, match=r"ortho\.tif: damaged JPEG tile at byte \d+ "
                                              r"\(stray marker FFD0 in the image data\)") as err:
            reader.read(cells[(0, 1)])
    assert "\n" not in str(err.value)


def test_damaged_jpeg_tile_read_through_gdal_is_a_raster_error_naming_file_and_window(
        damaged, monkeypatch):
    """Through GDAL (resampled chips, other layouts) GDAL's warning about the damage is the signal."""
    monkeypatch.setattr(ChipReader, "_tile_decoder", lambda *args: None)
    info = inspect_raster(damaged)
    spec = GridSpec(gsd_m=None, tile_px=BLOCK_PX, overlap_px=0)
    cells = {(c.row, c.col): c for c in cells_for(info, spec)}
    with ChipReader(info, spec) as reader:
        assert reader.read(cells[(0, 0)]).valid.all()
        with pytest.raises(RasterError, match=r"ortho\.tif: damaged data at window "
                                              r"Window\(col_off=256, row_off=0, width=256, "
                                              r"height=256\) \(GDAL: .*Corrupt JPEG data") as err:
            reader.read(cells[(0, 1)])
    assert "\n" not in str(err.value)


def test_sound_jpeg_tiles_read_without_error(tmp_path):
    path = tmp_path / "ortho.tif"
    write_jpeg_tiled(path)
    info = inspect_raster(path)
    spec = GridSpec(gsd_m=0.08, tile_px=128, overlap_px=16)  # resampled: reads span tiles
    with ChipReader(info, spec) as reader:
        chips = [reader.read(cell) for cell in cells_for(info, spec)]
    assert len(chips) == 9 and all(chip.valid.any() for chip in chips)
