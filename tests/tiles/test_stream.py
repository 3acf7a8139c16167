import threading
import tracemalloc

import numpy as np
import pytest

from poppyscan.tiles import ChipReader, ChipStats, GridSpec, inspect_raster, iter_chips
from tests.data.rasters import make_raster

NATIVE_128 = GridSpec(gsd_m=None, tile_px=128, overlap_px=16)


@pytest.mark.parametrize("name", ["landsat_rgb_nodata_collar.tif", "landsat_rgba_alpha_collar.tif"])
def test_collar_chips_are_skipped_and_counted(real_dir, name):
    stats = ChipStats()
    chips = list(iter_chips([real_dir / name], NATIVE_128, min_valid_frac=0.05, stats=stats))
    assert stats.planned == 49 and stats.skipped_collar == 8
    assert len(chips) == stats.yielded == 41
    assert all(chip.valid_frac >= 0.05 for chip in chips)
    # The coarse pre-screen drops nothing that a full read would have kept.
    every = list(iter_chips([real_dir / name], NATIVE_128, min_valid_frac=0.0))
    kept = {c.key for c in every if c.valid_frac >= 0.05}
    assert kept == {c.key for c in chips}


def test_alpha_and_nodata_fixtures_mask_the_same_collar(real_dir):
    a = list(iter_chips([real_dir / "landsat_rgb_nodata_collar.tif"], NATIVE_128))
    b = list(iter_chips([real_dir / "landsat_rgba_alpha_collar.tif"], NATIVE_128))
    fractions_a = np.array([c.valid_frac for c in a])
    fractions_b = np.array([c.valid_frac for c in b])
    assert np.abs(fractions_a - fractions_b).max() < 0.02


def test_several_files_in_different_crs_are_tagged_with_their_source(real_dir):
    paths = [real_dir / "OSBS_029.tif", real_dir / "tiled_epsg28992.tif"]
    stats = ChipStats()
    chips = list(iter_chips(paths, GridSpec(gsd_m=0.25, tile_px=128, overlap_px=0), stats=stats))
    sources = [c.source for c in chips]
    assert sources == sorted(sources, key=lambda s: paths.index(next(p for p in paths if str(p) == s)))
    assert {c.crs.to_epsg() for c in chips} == {32617, 28992}
    assert stats.per_source[str(paths[0])]["yielded"] == 4  # 40 m at 0.25 m: 160 px -> 2 x 2
    assert stats.per_source[str(paths[1])]["yielded"] == 64  # 250 m: 1000 px -> 8 x 8


def test_chips_come_in_grid_order_with_many_workers(tmp_path):
    path = make_raster(tmp_path / "r.tif", 600, 400)
    chips = list(iter_chips([path], NATIVE_128, workers=4, prefetch=3))
    assert [(c.row, c.col) for c in chips] == sorted((c.row, c.col) for c in chips)
    assert len(chips) == 4 * 6


def _peak_bytes(path) -> int:
    tracemalloc.start()
    for _ in iter_chips([path], GridSpec(gsd_m=None, tile_px=256, overlap_px=0), prefetch=4):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_each_reader_thread_reads_runs_of_two_columns(tmp_path, monkeypatch):
    """Neighbours share GDAL blocks, which are cached per thread's handle."""
    read_by: dict[tuple[int, int], str] = {}
    original = ChipReader.read

    def recording_read(self, cell):
        read_by[cell.row, cell.col] = threading.current_thread().name
        return original(self, cell)

    monkeypatch.setattr(ChipReader, "read", recording_read)
    path = make_raster(tmp_path / "r.tif", 1000, 400)  # 9 columns x 4 rows of chips
    assert len(list(iter_chips([path], NATIVE_128, workers=3, prefetch=5))) == 36
    columns = {name: sorted({col for (_, col), n in read_by.items() if n == name})
               for name in set(read_by.values())}
    assert sorted(columns.values()) == [[0, 1, 6, 7], [2, 3, 8], [4, 5]]


def test_memory_does_not_grow_with_raster_size(tmp_path):
    small = make_raster(tmp_path / "small.tif", 1024, 1024, tiled=True, blockxsize=256, blockysize=256)
    large = make_raster(tmp_path / "large.tif", 4096, 2048, tiled=True, blockxsize=256, blockysize=256)
    # 8x the pixels; Python-side peak (chips in flight) stays about the same.
    assert _peak_bytes(large) < 1.5 * _peak_bytes(small)


def test_info_can_be_passed_instead_of_a_path(real_dir):
    info = inspect_raster(real_dir / "OSBS_029.tif")
    chips = list(iter_chips([info], GridSpec(gsd_m=None, tile_px=256, overlap_px=0)))
    assert len(chips) == 4 and chips[0].source == info.path
