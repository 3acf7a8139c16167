"""Hard-negative mining: only targets that touch no plot are written, readable by dataset build."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS

from poppyscan.detect.merge import MergeSettings
from poppyscan.errors import ConfigError
from poppyscan.train.dataset import HardNegatives
from poppyscan.train.mining import mine_false_targets
from tests.data.rasters import UTM_47N
from tests.train.runs import box, detection, run, truth

PLOT = box(2, 2, 7, 7)
FAR = (20, 2, 24, 6)  # a false target in chip 2, far from the plot


def _survey():
    detections = [
        detection(2, 2, 7, 7, 0.9),  # on the plot
        detection(6.5, 2, 11, 7, 0.8),  # grazes the plot: not a match, but it touches it
        detection(*FAR, 0.5, col=2),
        detection(30, 2, 34, 6, 0.05, col=3),  # below the mining threshold
    ]
    return run(detections, box(0, 0, 41.6, 12.8)), truth(PLOT)


def test_only_targets_off_every_plot_are_written(tmp_path):
    result, plots = _survey()
    mined = mine_false_targets(result, plots, tmp_path / "false.gpkg", conf=0.1)
    assert (mined.n_false, mined.n_targets) == (1, 3)
    meta, _, wkb, fields = ogr_read(str(mined.path))
    assert CRS(meta["crs"]) == CRS(UTM_47N) and list(meta["fields"]) == ["conf"]
    assert shapely.equals(shapely.from_wkb(wkb[0]), box(*FAR)) and len(wkb) == 1
    assert fields[0].tolist() == [0.5]


def test_mined_file_feeds_dataset_build_hard_negatives(tmp_path):
    result, plots = _survey()
    mined = mine_false_targets(result, plots, tmp_path / "false.gpkg", conf=0.1)
    hard = HardNegatives.read([mined.path])
    assert hard.n_in == 1
    assert hard.without_labels(plots.geometries, plots.crs).n_on_labels == 0


def test_mining_uses_the_given_merge_rule(tmp_path):
    # A false target cut by the edge of chips 0 and 1: union joins the fragments, nms keeps both.
    fragments = [detection(5, 2, 18, 6, 0.8, col=0), detection(5, 2, 18, 6, 0.6, col=1)]
    result, plots = run(fragments, box(0, 0, 41.6, 12.8)), truth(box(30, 2, 34, 6))
    union = mine_false_targets(result, plots, tmp_path / "u.gpkg", conf=0.1,
                               merge=MergeSettings("union", {"min_overlap": 0.3}))
    nms = mine_false_targets(result, plots, tmp_path / "n.gpkg", conf=0.1,
                             merge=MergeSettings("nms"))
    assert (union.n_false, nms.n_false) == (1, 2)
    assert shapely.equals(shapely.from_wkb(ogr_read(str(union.path))[2][0]), box(5, 2, 18, 6))


def test_truth_in_another_crs_is_reprojected(tmp_path):
    result, plots = _survey()
    other = plots.to_crs(CRS("EPSG:32648"))
    assert not np.allclose(shapely.bounds(other.geometries), shapely.bounds(plots.geometries))
    mined = mine_false_targets(result, other, tmp_path / "false.gpkg", conf=0.1)
    assert (mined.n_false, mined.n_targets) == (1, 3)


def test_no_false_target_writes_an_empty_layer(tmp_path):
    result, plots = _survey()
    mined = mine_false_targets(result, plots, tmp_path / "false.gpkg", conf=0.85)
    assert (mined.n_false, mined.n_targets) == (0, 1)
    assert HardNegatives.read([mined.path]).n_in == 0


def test_mining_conf_must_be_a_probability(tmp_path):
    result, plots = _survey()
    with pytest.raises(ConfigError, match="conf=0"):
        mine_false_targets(result, plots, tmp_path / "false.gpkg", conf=0)
