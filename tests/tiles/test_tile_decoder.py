"""The reader's own JPEG tile decoding: same chips as GDAL's, each shared tile decoded once."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from poppyscan.tiles import ChipReader, GridSpec, cells_for, inspect_raster, iter_chips
from poppyscan.tiles.jpeg_tiles import TileDecoder
from tests.data.rasters import ORIGIN, UTM_47N

TILE_PX = 128


def ortho(path, *, photometric: str = "YCBCR", mask: bool = False, sparse: bool = False,
          width: int = 600, height: int = 450):
    """A JPEG-tiled RGB GeoTIFF with drone-like texture; partial tiles at the right and bottom.

    ``mask`` writes an internal mask band hiding a collar on the right;
    ``sparse`` leaves the top-left tile out of the file.
    """
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(1)  # texture mostly in brightness, some in colour, as on the ground
    noise = rng.integers(0, 40, (1, height, width)) + rng.integers(0, 12, (3, height, width))
    data = (np.stack([x * 160 // width, y * 160 // height, (x + y) * 80 // (width + height)])
            + 20 + noise).astype("uint8")
    profile = dict(driver="GTiff", width=width, height=height, count=3, dtype="uint8", crs=UTM_47N,
                   transform=from_origin(*ORIGIN, 0.05, 0.05), tiled=True, blockxsize=TILE_PX,
                   blockysize=TILE_PX, compress="JPEG", photometric=photometric, sparse_ok=sparse)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        if sparse:
            dst.write(data[:, :, TILE_PX:], window=Window(TILE_PX, 0, width - TILE_PX, height))
            dst.write(data[:, TILE_PX:, :TILE_PX], window=Window(0, TILE_PX, TILE_PX, height - TILE_PX))
        else:
            dst.write(data)
        if mask:
            valid = np.full((height, width), 255, dtype="uint8")
            valid[:, width - 70:] = 0
            dst.write_mask(valid)
    return path


def gdal_chips(path, spec):
    """What GDAL reads for each native chip of ``path``: (pixels, valid) by (row, col)."""
    info = inspect_raster(path)
    out = {}
    with rasterio.open(path) as src:
        for cell in cells_for(info, spec):
            col, row = (int(v) for v in ~src.transform @ (cell.transform.c, cell.transform.f))
            w, h = min(cell.size_px, src.width - col), min(cell.size_px, src.height - row)
            pixels = np.zeros((cell.size_px, cell.size_px, 3), dtype="uint8")
            valid = np.zeros((cell.size_px, cell.size_px), dtype=bool)
            pixels[:h, :w] = src.read(window=Window(col, row, w, h)).transpose(1, 2, 0)
            valid[:h, :w] = src.dataset_mask(window=Window(col, row, w, h)) > 0
            pixels[~valid] = 0
            out[cell.row, cell.col] = pixels, valid
    return out


def ycrcb(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(int)


@pytest.mark.parametrize("photometric", ["YCBCR", "RGB"])
@pytest.mark.parametrize("mask", [False, True])
def test_chips_match_gdal_within_chroma_upsampling(tmp_path, photometric, mask):
    path = ortho(tmp_path / "ortho.tif", photometric=photometric, mask=mask)
    spec = GridSpec(gsd_m=None, tile_px=200, overlap_px=40)  # chips straddle tiles and edges
    expected = gdal_chips(path, spec)
    info = inspect_raster(path)
    with ChipReader(info, spec) as reader:
        assert reader._tiles is not None
        for cell in cells_for(info, spec):
            chip = reader.read(cell)
            pixels, valid = expected[cell.row, cell.col]
            assert np.array_equal(chip.valid, valid)
            if photometric == "RGB":  # no chroma subsampling: GDAL's pixels exactly
                assert np.array_equal(chip.pixels, pixels)
            else:  # the same luma; chroma upsampled more smoothly than libtiff does
                diff = np.abs(ycrcb(chip.pixels) - ycrcb(pixels))
                assert diff[..., 0].max() <= 1
                assert diff[..., 1:].max() <= 4 and diff[..., 1:].mean() < 0.1
    assert len(expected) == 12
    assert expected[0, 3][1][:, 50:120].any() == (not mask)  # x 530-599: the masked collar


def test_a_tile_left_out_of_the_file_reads_as_zeros(tmp_path):
    path = ortho(tmp_path / "ortho.tif", sparse=True)
    with rasterio.open(path) as src:
        assert src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1) is None
        assert not src.read(window=Window(0, 0, TILE_PX, TILE_PX)).any()  # GDAL: zeros too
    info = inspect_raster(path)
    spec = GridSpec(gsd_m=None, tile_px=2 * TILE_PX, overlap_px=0)
    with ChipReader(info, spec) as reader:
        chip = reader.read(cells_for(info, spec)[0])
    assert not chip.pixels[:TILE_PX, :TILE_PX].any()
    assert chip.pixels[TILE_PX:, TILE_PX:].mean() > 50


def test_tiles_shared_by_neighbouring_chips_are_decoded_once(tmp_path, monkeypatch):
    decoded: list[tuple[int, int]] = []
    decode = TileDecoder._decode
    monkeypatch.setattr(TileDecoder, "_decode",
                        lambda self, row, col: decoded.append((row, col)) or decode(self, row, col))
    path = ortho(tmp_path / "ortho.tif", width=1024, height=512)
    info = inspect_raster(path)
    spec = GridSpec(gsd_m=None, tile_px=160, overlap_px=32)  # chips overlap and straddle tiles
    with ChipReader(info, spec) as reader:
        chips = [reader.read(cell) for cell in cells_for(info, spec)]
    assert len(chips) == 32
    assert sorted(decoded) == [(r, c) for r in range(4) for c in range(8)]  # each tile once


def test_resampled_chips_are_read_by_gdal(tmp_path, monkeypatch):
    monkeypatch.setattr(TileDecoder, "read", lambda *args: pytest.fail("decoded a resampled chip"))
    path = ortho(tmp_path / "ortho.tif")
    chips = list(iter_chips([path], GridSpec(gsd_m=0.08, tile_px=128, overlap_px=16)))
    assert len(chips) == 12 and all(chip.valid.any() for chip in chips)
