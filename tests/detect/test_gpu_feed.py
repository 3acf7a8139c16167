"""The GPU feed: chips decoded from JPEG tiles equal ChipReader's, up to the JPEG decoder.

Run on the CPU (torchvision decodes with libjpeg-turbo there, GDAL with its
own libjpeg). Measured on these surveys, over pixels valid in both: with a
dataset mask (YCbCr 4:2:0) 0.31-0.36 levels on average, at most 18 (chroma
edges), the mask identical; RGB JPEG (no chroma subsampling) at most 1 level.
With a nodata mask, 0.27-0.38 levels on average and at most 0.06 % of pixels
off by more than 8, but up to 0.94 % of a chip's mask differs, at the collar
and next to near-black pixels: GDAL leaves each band's zeros out of its
averages, so a level of decoder noise there moves a pixel in or out.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from poppyscan.detect.bundle import load_bundle
from poppyscan.detect.gpu import DevicePredictor, JpegTileFeed, detect_on_device
from poppyscan.detect.gpu.taps import axis_taps
from poppyscan.detect.pipeline import run_detection
from poppyscan.detect.predictor import YoloPredictor
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import RasterError
from poppyscan.synth import generate_survey
from poppyscan.tiles import ChipReader, GridSpec, cells_for, inspect_raster
from poppyscan.tiles.jpeg_tiles import jpeg_tiles, read_streams
from tests.data.rasters import ORIGIN, UTM_47N
from tests.tiles.test_corrupt_tile import damage_tile, write_jpeg_tiled

DEMO = "detect/models/poppy-demo"


def _copy(src_path, dst_path, *, internal_mask: bool, **profile) -> str:
    """``src_path``'s RGB as a new GeoTIFF (256 px tiles unless given), its mask as an internal mask."""
    with rasterio.open(src_path) as src:
        data, valid = src.read([1, 2, 3]), src.dataset_mask()
        options = dict(driver="GTiff", width=src.width, height=src.height, count=3, dtype="uint8",
                       crs=src.crs, transform=src.transform, tiled=True, blockxsize=256,
                       blockysize=256)
    options.update(profile)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(dst_path, "w", **options) as dst:
        dst.write(data)
        if internal_mask:
            dst.write_mask(valid)
    return str(dst_path)


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    """JPEG-tiled surveys of every mask kind, one with overviews, plus rasters the feed refuses."""
    root = tmp_path_factory.mktemp("gpu_feed")
    nodata = generate_survey(root / "n5", seed=11, size_px=(900, 700), gsd_m=0.05,
                             mask="nodata").ortho_path
    overviews = generate_survey(root / "o2", seed=12, size_px=(1000, 900), gsd_m=0.02,
                                mask="nodata", overviews=True).ortho_path
    alpha = generate_survey(root / "a4", seed=13, size_px=(900, 700), gsd_m=0.04, mask="alpha",
                            compress="deflate").ortho_path
    jpeg = dict(compress="jpeg", jpeg_quality=90)
    return {
        "nodata": str(nodata), "overviews": str(overviews),
        "internal_mask": _copy(alpha, root / "im.tif", internal_mask=True, photometric="ycbcr", **jpeg),
        "rgb": _copy(alpha, root / "rgb.tif", internal_mask=True, photometric="rgb", **jpeg),
        "deflate_alpha": str(alpha),
        "deflate_small": str(generate_survey(root / "d5", seed=15, size_px=(300, 260), gsd_m=0.05,
                                             compress="deflate").ortho_path),
        "striped": _copy(alpha, root / "striped.tif", internal_mask=False, tiled=False,
                         blockysize=16, photometric="ycbcr", **jpeg),
        "rgba_jpeg": str(generate_survey(root / "rgba", seed=14, size_px=(300, 300),
                                         gsd_m=0.05).ortho_path),
    }


def _compare(path: str, spec: GridSpec, **feed_options) -> dict[str, float]:
    """Feed chips against ChipReader's over the whole grid (edge and collar chips included)."""
    info = inspect_raster(path)
    cells = cells_for(info, spec)
    with JpegTileFeed(spec, workers=2, **feed_options) as feed:
        assert feed.decodes(info)
        batch = feed.read([(info, cell) for cell in cells])
    pixels = batch.host_pixels()
    diffs, mask_off, valid_fracs = [], [], []
    with ChipReader(info, spec) as reader:
        for k, cell in enumerate(cells):
            chip, fed = reader.read(cell), batch.chips[k]
            assert fed.transform == chip.transform and fed.window == chip.window
            both = chip.valid & fed.valid
            diffs.append(np.abs(pixels[k].astype(int) - chip.pixels)[both])
            mask_off.append(float((chip.valid != fed.valid).mean()))
            valid_fracs.append(chip.valid_frac)
            assert (pixels[k][~fed.valid] == 0).all()  # masked pixels are black
    diff = np.concatenate(diffs)
    assert min(valid_fracs) < 0.5 and max(valid_fracs) == 1.0  # edge/collar and whole chips
    return dict(max=int(diff.max()), mean=float(diff.mean()), over_8=float((diff > 8).mean()),
                mask_off=max(mask_off), chips=len(cells), decoded=batch.decoded)


@pytest.mark.parametrize(("name", "gsd_m", "tile_px"), [
    ("internal_mask", None, 256),  # native
    ("internal_mask", 0.05, 128),  # 4 -> 5 cm: average over fractional windows
    ("rgb", 0.05, 128),  # an RGB (not YCbCr) JPEG
])
def test_chips_with_a_dataset_mask_equal_chipreaders(rasters, name, gsd_m, tile_px):
    found = _compare(rasters[name], GridSpec(gsd_m, tile_px, tile_px // 4))
    assert found["decoded"] == found["chips"]
    assert found["mask_off"] == 0.0  # the mask is read as ChipReader reads it
    assert found["max"] <= 32 and found["mean"] <= 0.5, found


@pytest.mark.parametrize(("name", "gsd_m", "tile_px"), [
    ("nodata", None, 256),  # native
    ("nodata", 0.08, 128),  # coarser: average, 1.6 source px per chip px
    ("nodata", 0.035, 256),  # finer: bilinear
    ("overviews", 0.05, 128),  # 2 -> 5 cm from the 2x overview, as GDAL reads it
])
def test_chips_with_nodata_equal_chipreaders_up_to_the_decoder(rasters, name, gsd_m, tile_px):
    found = _compare(rasters[name], GridSpec(gsd_m, tile_px, tile_px // 4))
    assert found["mask_off"] <= 0.02 and found["over_8"] <= 0.002, found
    assert found["mean"] <= 0.5, found


def test_process_pool_gives_the_same_chips_as_threads(rasters):
    spec = GridSpec(0.05, 128, 32)
    info = inspect_raster(rasters["internal_mask"])
    items = [(info, cell) for cell in cells_for(info, spec)[:6]]
    with JpegTileFeed(spec, workers=2, pool="thread") as threads:
        expected = threads.read(items)
    with JpegTileFeed(spec, workers=2, pool="process") as processes:
        found = processes.read(items)
    assert torch.equal(found.images, expected.images)
    assert all(np.array_equal(a.valid, b.valid) for a, b in zip(found.chips, expected.chips, strict=True))


@pytest.mark.parametrize(("name", "decode"), [
    ("deflate_alpha", "device"), ("striped", "device"), ("rgba_jpeg", "device"),
    ("internal_mask", "gdal"),  # the CPU-decode baseline: GDAL decodes every chip
])
def test_rasters_it_cannot_decode_fall_back_to_chipreader(rasters, name, decode):
    path = rasters[name]
    assert (jpeg_tiles(path) is None) == (decode == "device")
    spec = GridSpec(None, 128, 32)
    info = inspect_raster(path)
    cells = cells_for(info, spec)[:5]
    with JpegTileFeed(spec, workers=2, decode=decode) as feed:
        assert not feed.decodes(info)
        batch = feed.read([(info, cell) for cell in cells])
    assert batch.decoded == 0
    with ChipReader(info, spec) as reader:
        for k, cell in enumerate(cells):
            chip = reader.read(cell)
            assert np.array_equal(batch.host_pixels()[k], chip.pixels)
            assert np.array_equal(batch.chips[k].valid, chip.valid)


def test_tile_streams_decode_like_gdal(rasters):
    from torchvision.io import ImageReadMode, decode_jpeg

    tiles = jpeg_tiles(rasters["nodata"])
    assert (tiles.width, tiles.height, tiles.shape, tiles.factor) == (900, 700, (2, 2), (1.0, 1.0))
    (stream,) = read_streams(tiles.path, tiles.tables, tiles.spans([(1, 1)]))
    decoded = decode_jpeg(torch.frombuffer(bytearray(stream), dtype=torch.uint8),
                          mode=ImageReadMode.RGB).numpy()
    with rasterio.open(tiles.path) as src:
        expected = src.read(window=((512, 700), (512, 900)))
    diff = np.abs(decoded[:, :188, :388].astype(int) - expected)
    assert diff.mean() < 0.5 and diff.max() <= 32


def test_damaged_tile_is_a_raster_error(tmp_path):
    path = tmp_path / "damaged.tif"
    write_jpeg_tiled(path)
    damage_tile(path, col=1, row=0)
    spec = GridSpec(None, 256, 0)
    info = inspect_raster(path)
    with JpegTileFeed(spec) as feed, pytest.raises(RasterError, match="damaged JPEG tile"):
        feed.read([(info, cell) for cell in cells_for(info, spec)])


def test_sparse_tiles_are_empty(tmp_path):
    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", driver="GTiff", width=512, height=256, count=3, dtype="uint8",
                       crs=UTM_47N, transform=from_origin(*ORIGIN, 0.05, 0.05), tiled=True,
                       blockxsize=256, blockysize=256, compress="jpeg", photometric="ycbcr",
                       nodata=0, sparse_ok=True) as dst:
        dst.write(np.full((3, 256, 256), 120, dtype="uint8"), window=((0, 256), (0, 256)))
    tiles = jpeg_tiles(path)
    assert tiles.sizes[0, 1] == 0 and read_streams(str(path), tiles.tables, tiles.spans([(0, 1)])) == [None]
    spec = GridSpec(None, 256, 0)
    info = inspect_raster(path)
    cells = cells_for(info, spec)
    with JpegTileFeed(spec) as feed:
        batch = feed.read([(info, cell) for cell in cells])
        only_missing = feed.read([(info, cells[1])])  # no tile to decode at all
    assert batch.chips[0].valid.all() and not batch.chips[1].valid.any()
    assert not only_missing.chips[0].valid.any() and not only_missing.images.any()


def _dense(taps) -> np.ndarray:
    """The taps as a (n_out, hi - lo) matrix."""
    dense = np.zeros((len(taps.index), taps.hi - taps.lo))
    for i, (index, weights) in enumerate(zip(taps.index, taps.weights, strict=True)):
        np.add.at(dense[i], index, weights)
    return dense


def test_average_taps_weigh_fractional_pixels():
    taps = axis_taps(2.4, 1.6, 3, 100, "average")
    assert (taps.lo, taps.hi) == (2, 8)  # spans [2.4, 4.0), [4.0, 5.6), [5.6, 7.2)
    expected = np.array([[0.6, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.6, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.4, 1.0, 0.2]]) / 1.6
    assert np.allclose(_dense(taps), expected, atol=1e-6)


def test_bilinear_taps_clamp_at_the_raster_edge_not_the_window():
    inside = axis_taps(10.0, 0.5, 4, 100, "bilinear")  # centres 9.75 ... 11.25: pixels 9-12
    assert (inside.lo, inside.hi) == (9, 13)
    assert np.allclose(_dense(inside)[0], [0.25, 0.75, 0, 0]) and not inside.identity
    edge = axis_taps(0.0, 0.5, 2, 100, "bilinear")  # the first centre is 0.25 px before pixel 0
    assert (edge.lo, edge.hi) == (0, 2) and np.allclose(_dense(edge), [[1.0, 0.0], [0.75, 0.25]])


def test_detection_on_device_finds_the_pipelines_plots(rasters):
    bundle = load_bundle(DEMO)
    grid = GridSpec(bundle.grid.gsd_m, bundle.grid.tile_px, bundle.grid.overlap_px)
    predictor = YoloPredictor(str(bundle.weights_path), conf=bundle.conf, device="cpu")
    survey = rasters["nodata"]
    expected = run_detection([survey], predictor, grid, runtime=Runtime(batch_size=4, workers=2))
    with JpegTileFeed(grid, workers=2) as feed:
        found = detect_on_device([survey], DevicePredictor(predictor), grid, feed, batch_size=4)
    assert found.chips_read == expected.stats.read and found.chips_decoded == found.chips_read
    assert len(found.clusters) == len(expected.clusters)
    for a, b in zip(sorted(found.clusters, key=lambda c: c.polygon.centroid.x),
                    sorted(expected.clusters, key=lambda c: c.polygon.centroid.x), strict=True):
        assert a.polygon.centroid.distance(b.polygon.centroid) < 0.5


def test_detection_on_device_equals_the_pipeline_where_gdal_reads(rasters, untrained_bundle):
    grid = GridSpec(None, untrained_bundle.grid.tile_px, untrained_bundle.grid.overlap_px)
    predictor = YoloPredictor(str(untrained_bundle.weights_path), conf=untrained_bundle.conf,
                              device="cpu")
    survey = rasters["deflate_small"]
    expected = run_detection([survey], predictor, grid, runtime=Runtime(batch_size=4, workers=2))
    with JpegTileFeed(grid, workers=2) as feed:
        found = detect_on_device([survey], DevicePredictor(predictor), grid, feed, batch_size=4)
    assert found.chips_decoded == 0 and found.chips_kept == expected.stats.yielded
    key = lambda d: (d.chip, d.polygon.bounds, round(d.conf, 5))  # noqa: E731
    assert sorted(map(key, found.detections)) == sorted(map(key, expected.detections))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_feed_matches_the_cpu_feed_and_runs_fp16(rasters):
    spec = GridSpec(0.05, 640, 128)
    info = inspect_raster(rasters["overviews"])
    items = [(info, cell) for cell in cells_for(info, spec)]
    with JpegTileFeed(spec, device="cpu") as cpu, JpegTileFeed(spec, device="cuda") as cuda:
        expected, found = cpu.read(items), cuda.read(items)
    assert found.images.is_cuda and found.decoded == len(items)
    diff = (found.images.cpu().int() - expected.images.int()).abs()
    assert diff.float().mean() <= 0.5 and (diff > 8).float().mean() <= 0.002  # nvJPEG vs libjpeg-turbo
    bundle = load_bundle(DEMO)
    predictor = DevicePredictor(YoloPredictor(str(bundle.weights_path), conf=bundle.conf,
                                              device="cuda"))
    assert predictor.dtype == torch.float16
    assert len(predictor(found.images)) == len(items)


def test_the_experimental_gpu_path_is_offered_as_no_engine():
    from poppyscan.cli.detect import detect as detect_command
    from poppyscan.detect import gpu
    from poppyscan.detect.runtime import ENGINES

    engine = next(p for p in detect_command.params if p.name == "engine")
    assert "gpu" not in ENGINES and "gpu" not in engine.type.choices
    assert "**Experimental.**" in gpu.__doc__
