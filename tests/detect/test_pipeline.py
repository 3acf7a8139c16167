"""Positions, merging, collar and multi-file deduplication through the real pipeline."""

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import Resampling, calculate_default_transform, reproject

from poppyscan.detect.build import make_targets
from poppyscan.detect.pipeline import run_detection
from poppyscan.detect.runtime import Runtime
from poppyscan.tiles import GridSpec
from tests.data.rasters import ORIGIN
from tests.detect.marks import FixedBoxPredictor, MarkPredictor, make_marked_raster

GRID = GridSpec(gsd_m=0.05, tile_px=128, overlap_px=32)  # stride 96 px


def _targets(paths, predictor=None, grid=GRID, **kwargs):
    result = run_detection([str(p) for p in paths], predictor or MarkPredictor(), grid,
                           runtime=Runtime(batch_size=4, workers=kwargs.pop("workers", 4)), **kwargs)
    return result, make_targets(result.clusters, result.crs, mission="T", model_id="marks", gsd_m=0.05,
                                   class_names=["mark"])


def _pixel_bounds(target, path):
    """The target's WGS84 polygon mapped back to the raster's pixel grid."""
    with rasterio.open(path) as src:
        to_map = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        lon, lat = np.asarray(target.polygon.exterior.coords).T
        x, y = to_map.transform(lon, lat)
        cols, rows = ~src.transform @ (np.asarray(x), np.asarray(y))
    return cols.min(), rows.min(), cols.max(), rows.max()


@pytest.mark.parametrize("src_gsd_m", [0.05, 0.025])
def test_target_polygon_lands_on_the_marked_pixels(tmp_path, src_gsd_m):
    scale = round(0.05 / src_gsd_m)
    mark = np.array([40, 30, 70, 52]) * scale  # well inside chip (0, 0)
    path = make_marked_raster(tmp_path / "a.tif", (400 * scale, 400 * scale), [mark], gsd_m=src_gsd_m)
    _, targets = _targets([path])
    assert len(targets) == 1
    assert np.allclose(_pixel_bounds(targets[0], path), mark, atol=0.5)
    assert targets[0].area_m2 == pytest.approx(30 * 22 * 0.05**2, rel=1e-6)


def test_plot_across_two_chips_is_one_target(tmp_path):
    mark = (60, 10, 170, 40)  # chips (0,0) and (0,1) each see only a cut fragment
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), [mark])
    result, targets = _targets([path])
    assert len(result.detections) == 2 and len(targets) == 1
    assert np.allclose(_pixel_bounds(targets[0], path), mark, atol=0.5)


def test_plot_across_four_chips_is_one_target(tmp_path):
    mark = (60, 60, 170, 170)
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), [mark])
    result, targets = _targets([path])
    assert len(result.detections) == 4 and len(targets) == 1
    assert targets[0].n_detections == 4
    assert np.allclose(_pixel_bounds(targets[0], path), mark, atol=0.5)


def test_plot_in_the_overlap_seen_twice_is_one_target(tmp_path):
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), [(100, 20, 120, 40)])
    result, targets = _targets([path])
    assert len(result.detections) == 2 and len(targets) == 1


def test_two_close_plots_stay_two(tmp_path):
    marks = [(200, 300, 230, 330), (236, 300, 270, 330), (100, 150, 124, 170), (100, 176, 124, 196)]
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), marks)  # 30 cm gaps, some on chip edges
    _, targets = _targets([path])
    assert len(targets) == 4


def test_detections_on_the_collar_are_dropped(tmp_path):
    # Valid area: the left 300 px; a box at 280-330 px in chip (0, 3) is 16% valid.
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), [], alpha_box=(0, 0, 300, 400))
    box_on_collar = [0, 0, 42, 20, 0.9, 0]  # chip (r, 3) starts at 288 px: all collar
    box_on_edge = [0, 40, 30, 60, 0.9, 0]  # 12 of 30 px valid in chip (r, 3): 40% -> dropped
    result, _ = _targets([path], FixedBoxPredictor([box_on_collar, box_on_edge]))
    from_last_col = [d for d in result.detections if d.chip[1] == 3]
    assert from_last_col == [] and result.collar_boxes >= 2
    assert result.stats.yielded > 0


def test_same_plot_in_two_files_is_one_target(tmp_path):
    mark = (40, 40, 80, 70)
    a = make_marked_raster(tmp_path / "a.tif", (300, 300), [mark])
    shift_px = (50, 30)  # file b starts 2.5 m east and 1.5 m south of file a
    origin_b = (ORIGIN[0] + shift_px[0] * 0.05, ORIGIN[1] - shift_px[1] * 0.05)
    mark_b = (mark[0] - shift_px[0] + 100, mark[1] - shift_px[1] + 100, mark[2] - shift_px[0] + 100,
              mark[3] - shift_px[1] + 100)
    b = make_marked_raster(tmp_path / "b.tif", (300, 300), [mark_b],
                           origin=(origin_b[0] - 5.0, origin_b[1] + 5.0))
    _, targets = _targets([a, b])
    assert len(targets) == 1 and targets[0].sources == ("a.tif", "b.tif")


def test_same_plot_in_a_file_of_another_crs_is_one_target(tmp_path):
    a = make_marked_raster(tmp_path / "a.tif", (300, 300), [(40, 40, 100, 90)])
    b = tmp_path / "b_utm48.tif"
    with rasterio.open(a) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:32648", src.width,
                                                               src.height, *src.bounds, resolution=0.05)
        profile = {**src.profile, "crs": "EPSG:32648", "transform": transform, "width": width, "height": height}
        with rasterio.open(b, "w", **profile) as dst:
            for band in range(1, 5):
                reproject(rasterio.band(src, band), rasterio.band(dst, band), resampling=Resampling.nearest)
    result, targets = _targets([a, b])
    assert {d.source.rsplit("/", 1)[-1] for d in result.detections} == {"a.tif", "b_utm48.tif"}
    assert len(targets) == 1 and len(targets[0].sources) == 2


def test_coverage_is_the_valid_area_examined(tmp_path):
    path = make_marked_raster(tmp_path / "a.tif", (400, 400), [], alpha_box=(0, 0, 200, 400))
    result, _ = _targets([path])
    # 200 x 400 px at 5 cm = 10 m x 20 m = 200 m2, traced on 16 px cells.
    assert result.coverage.area == pytest.approx(200.0, rel=0.05)


def test_the_model_starts_on_a_block_before_all_its_chips_are_read(tmp_path, monkeypatch):
    """A block's chips stream into its batches: the first batch does not wait for the 64th chip."""
    import poppyscan.tiles.stream as stream

    reads: list[int] = []
    read = stream.ChipReader.read
    monkeypatch.setattr(stream.ChipReader, "read",
                        lambda self, cell: reads.append(1) or read(self, cell))
    read_before_batch: list[int] = []

    class Counting(FixedBoxPredictor):
        def __call__(self, images):
            read_before_batch.append(len(reads))
            return super().__call__(images)

    path = make_marked_raster(tmp_path / "a.tif", (1024, 1024), [])  # 8 x 8 chips: one block
    run_detection([path], Counting([]), GridSpec(None, 128, 0),
                  runtime=Runtime(batch_size=8, workers=1))
    assert len(read_before_batch) == 8 and len(reads) == 64
    assert read_before_batch[0] < 64  # the readers run at most 24 chips (the prefetch) ahead
