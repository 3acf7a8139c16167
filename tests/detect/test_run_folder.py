"""Real missions in, nothing lost: same-named files, scale checks, resume, outputs that never lie."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from poppyscan.detect.journal import journal_path
from poppyscan.detect.run import RunSpec, detect_targets, run_to_folder
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError, OutputError, RasterError, RunInterrupted
from poppyscan.output_folder import OutputFolder, verify_outputs
from poppyscan.tiles import inspect_raster
from poppyscan.tiles.scale import check_scale
from poppyscan.tiles.sources import find_orthomosaics
from tests.detect.marks import MISSION_MARKS, MarkPredictor, make_odm_mission


@pytest.fixture(scope="module")
def mission(tmp_path_factory) -> Path:
    return make_odm_mission(tmp_path_factory.mktemp("mission"))


class StopAfter(MarkPredictor):
    """Finds marks like :class:`MarkPredictor`, then raises KeyboardInterrupt at call ``n``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def __call__(self, images):
        if self.calls + 1 == self.n:
            raise KeyboardInterrupt
        return super().__call__(images)


def _run(root, out, bundle, predictor=None, mission=None, **kwargs):
    infos = [inspect_raster(p) for p in find_orthomosaics([root])]
    spec = RunSpec(bundle, predictor or MarkPredictor(), bundle.merge_settings(),
                   Runtime(batch_size=4, workers=2), mission=mission)
    return run_to_folder(infos, out, spec, **kwargs)


def _targets(out: Path) -> list:
    features = json.loads((out / "targets.geojson").read_text())["features"]
    return [(f["properties"]["target_id"], f["properties"]["conf"], f["geometry"]["coordinates"],
             f["properties"]["sources"]) for f in features]


def test_same_named_files_are_two_sources(mission, untrained_bundle, tmp_path):
    found = _run(mission, tmp_path / "out", untrained_bundle)
    assert sorted(found.labels.values()) == ["f11/odm_orthophoto", "f12/odm_orthophoto"]
    sources = {s for t in found.targets for s in t.sources}
    assert sources == {"f11/odm_orthophoto", "f12/odm_orthophoto"}
    # The two flights overlap: marks seen in both merge into one target each.
    assert len(found.targets) == len(MISSION_MARKS) + 6  # f12 lies one mark column (12.5 m) east
    assert all((tmp_path / "out" / t.thumbnail).is_file() for t in found.targets)
    assert verify_outputs(tmp_path / "out") == []
    assert not journal_path(tmp_path / "out").exists()  # a finished run leaves no journal


def test_coarse_and_empty_rasters_are_refused_before_planning(real_dir, untrained_bundle, tmp_path):
    landsat = inspect_raster(real_dir / "landsat_rgb_nodata_collar.tif")
    with pytest.raises(RasterError, match="300 m per pixel is more than 4 times coarser"):
        check_scale(landsat, untrained_bundle.grid, max_gsd_ratio=4)
    sparse = tmp_path / "sparse.tif"
    with rasterio.open(sparse, "w", driver="GTiff", width=200_000, height=200_000, count=3,
                       dtype="uint8", crs="EPSG:32647", transform=Affine(0.05, 0, 5e5, 0, -0.05, 2e6),
                       tiled=True, compress="deflate", SPARSE_OK=True, BIGTIFF="YES"):
        pass
    with pytest.raises(RasterError, match="holds almost no image data"):
        check_scale(inspect_raster(sparse), untrained_bundle.grid, max_gsd_ratio=4)


def test_a_killed_run_resumes_to_the_same_targets(mission, untrained_bundle, tmp_path):
    _run(mission, tmp_path / "clean", untrained_bundle)
    out = tmp_path / "killed"
    for stop_at in (3, 9, 20):  # killed three times, later each time
        with pytest.raises(RunInterrupted, match="run the same command again to resume"):
            _run(mission, out, untrained_bundle, predictor=StopAfter(stop_at))
        assert not (out / "run.json").exists()
    resumed = _run(mission, out, untrained_bundle)
    assert resumed.result.blocks_resumed > 0
    assert _targets(out) == _targets(tmp_path / "clean")
    manifest = json.loads((out / "run.json").read_text())
    clean = json.loads((tmp_path / "clean" / "run.json").read_text())
    assert manifest["counts"] == clean["counts"]
    assert sorted(p.name for p in (out / ".poppyscan").iterdir()) == ["lock"]


def test_a_kill_while_publishing_is_finished_by_the_next_run(mission, untrained_bundle, tmp_path,
                                                             monkeypatch):
    out = tmp_path / "out"
    _run(mission, out, untrained_bundle)
    old = _targets(out)
    moves = []
    real_replace, real_publish = os.replace, OutputFolder.publish

    def dying_replace(src, dst):
        if len(moves) == 3:
            raise KeyboardInterrupt  # the process dies half-way through the moves
        moves.append(dst)
        return real_replace(src, dst)

    def publish(folder, staging):
        monkeypatch.setattr(os, "replace", dying_replace)
        real_publish(folder, staging)

    monkeypatch.setattr(OutputFolder, "publish", publish)
    with pytest.raises((KeyboardInterrupt, RunInterrupted)):
        _run(mission, out, untrained_bundle, overwrite=True, mission="NEW")
    monkeypatch.undo()
    assert not (out / "run.json").exists()  # visibly incomplete, never mixed and "complete"
    assert verify_outputs(out) != []
    with OutputFolder(out, ["targets.geojson"]).open():  # any next run finishes the publish
        pass
    assert verify_outputs(out) == []
    assert [t[0] for t in _targets(out)] == [f"NEW-{i:04d}" for i in range(1, len(old) + 1)]
    assert not list((out / ".poppyscan").glob("staging-*"))


def test_second_run_into_a_locked_folder_is_refused(mission, untrained_bundle, tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, ["targets.geojson"]).open():
        with pytest.raises(OutputError, match="another poppyscan run .* is writing here"):
            _run(mission, out, untrained_bundle)
    _run(mission, out, untrained_bundle)
    with pytest.raises(ConfigError, match="already holds .*pass --overwrite"):
        _run(mission, out, untrained_bundle)


def test_output_problems_are_one_line_and_lose_nothing(mission, untrained_bundle, tmp_path,
                                                       monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    with pytest.raises(OutputError, match="file-not-folder: cannot be written"):
        _run(mission, blocked, untrained_bundle)
    monkeypatch.setattr("poppyscan.output_folder.shutil.disk_usage",
                        lambda path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(OutputError, match="only 1 MiB free"):
        _run(mission, tmp_path / "full", untrained_bundle)
    monkeypatch.undo()

    out = tmp_path / "out"
    _run(mission, out, untrained_bundle)
    before = (out / "run.json").read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("poppyscan.detect.run.write_all", no_space)
    with pytest.raises(OutputError, match=r"outputs failed \(no space left on the device\); the previous outputs are untouched"):
        _run(mission, out, untrained_bundle, overwrite=True)
    monkeypatch.undo()
    assert (out / "run.json").read_bytes() == before and verify_outputs(out) == []
    assert journal_path(out).exists()  # detections kept: the rerun only writes the outputs
    again = _run(mission, out, untrained_bundle, overwrite=True)
    assert again.result.blocks_resumed == len(again.result.infos) * 4  # 2 x 2 blocks each


def test_outputs_on_another_filesystem(mission, untrained_bundle):
    out = Path("/dev/shm") / f"poppyscan-test-{np.random.default_rng().integers(1 << 30)}"
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm")
    try:
        _run(mission, out, untrained_bundle)
        assert verify_outputs(out) == []
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_changed_settings_invalidate_the_journal(mission, untrained_bundle, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted):
        _run(mission, out, untrained_bundle, predictor=StopAfter(5))
    other = MarkPredictor()
    other.conf = 0.7
    with pytest.raises(ConfigError, match="other thresholds was journalled here.*--overwrite"):
        _run(mission, out, untrained_bundle, predictor=other)
    assert len(_run(mission, out, untrained_bundle, predictor=other, overwrite=True).targets) > 0


def test_targets_without_a_folder(mission, untrained_bundle):
    infos = [inspect_raster(p) for p in find_orthomosaics([mission])]
    found = detect_targets(infos, RunSpec(untrained_bundle, MarkPredictor(),
                                          untrained_bundle.merge_settings()))
    assert found.mission == mission.name and found.paths == {}  # the folder both flights share


def test_two_runs_of_the_same_files_get_two_run_ids(mission, untrained_bundle, tmp_path):
    """Within one second too: a registry told the second run apart from the first only by id."""
    first = _run(mission, tmp_path / "one", untrained_bundle)
    second = _run(mission, tmp_path / "two", untrained_bundle)
    assert first.run_id != second.run_id
