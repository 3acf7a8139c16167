"""The matching rule, plot-level scores and pooled runs, on constructed polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from poppyscan.tiles.errors import ConfigError
from poppyscan.train.evaluate import evaluate_detections
from poppyscan.train.scoring import match_targets, pool_runs, score_targets
from poppyscan.train.truth import TruthPlots
from tests.data.rasters import UTM_47N
from tests.train.runs import box, detection, run, truth


def test_false_targets_of_20_m2_or_more_count_against_large_plot_precision():
    plots = TruthPlots(np.array([shapely.box(0, 0, 10, 10), shapely.box(50, 0, 53, 3)],
                                dtype=object), ("flowering", "rosette"), CRS(UTM_47N))
    coverage = shapely.box(-100, -100, 100, 100)
    targets = [shapely.box(0, 0, 10, 10), shapely.box(50, 0, 53, 3),  # both plots found
               shapely.box(20, 20, 26, 26), shapely.box(30, 30, 33, 33)]  # false: 36 and 9 m2
    score, _ = score_targets(targets, [0.9, 0.8, 0.7, 0.6], plots, coverage, conf=0.5,
                             min_area_m2=20)
    assert (score.n_plots, score.true_targets, score.n_targets) == (1, 1, 2)
    assert score.precision == 0.5


def test_match_rule_iou_or_centroid_one_to_one():
    plot = shapely.box(0, 0, 10, 10)
    plots = np.array([plot], dtype=object)
    inside_small = shapely.box(4, 4, 5, 5)  # IoU 0.01, centroid inside: a hit
    overlapping = shapely.box(-6, 0, 4, 10)  # IoU 0.25, centroid outside: a hit
    grazing = shapely.box(-9.5, 0, 0.5, 10)  # IoU 0.026, centroid outside: no hit
    assert match_targets([inside_small], [0.9], plots) == {0: 0}
    assert match_targets([overlapping], [0.9], plots) == {0: 0}
    assert match_targets([grazing], [0.9], plots) == {}
    # One target per plot: the more confident one takes it, the other is a false target.
    assert match_targets([inside_small, overlapping], [0.4, 0.8], plots) == {1: 0}


def _two_surveys():
    """Survey a: one 25 m2 plot found, one false target. Survey b, 960 m east: one plot missed."""
    a = run([detection(1, 1, 6, 6, 0.9), detection(7, 7, 12, 12, 0.6)], box(0, 0, 12.8, 12.8),
            source="a.tif", seconds=2.0)
    b = run([detection(961, 1, 963, 3, 0.7, col=100, source="b.tif")], box(960, 0, 972.8, 12.8),
            source="b.tif", seconds=3.0)
    return [a, b], [truth(box(1, 1, 6, 6), source="a"), truth(box(965, 5, 970, 10), source="b")]


def test_pooled_runs_add_up_and_score_as_one_run():
    results, truths = _two_surveys()
    pooled, plots = pool_runs(results, truths)
    assert len(pooled.detections) == 3 and len(pooled.clusters) == 3
    assert [i.path for i in pooled.infos] == ["/surveys/a.tif", "/surveys/b.tif"]
    assert pooled.coverage.area == pytest.approx(2 * 12.8 * 12.8)
    assert pooled.timings_s == {"total": 5.0} and pooled.collar_boxes == 2
    assert (pooled.stats.planned, pooled.stats.read) == (6, 4)
    assert set(pooled.stats.per_source) == {"a.tif", "b.tif"}
    assert len(plots) == 2 and plots.source == "a;b"
    each = [evaluate_detections(r, t, conf=0.5, sweep=()).score for r, t in zip(results, truths,
                                                                                    strict=True)]
    both = evaluate_detections(pooled, plots, conf=0.5, sweep=()).score
    assert (both.n_plots, both.n_targets, both.true_targets) == (2, 3, 1)
    assert both.n_targets == sum(s.n_targets for s in each)
    assert both.area_km2 == pytest.approx(sum(s.area_km2 for s in each))


def test_pooling_leaves_the_runs_as_they_were():
    results, truths = _two_surveys()
    pool_runs(results, truths)
    assert len(results[0].detections) == 2 and results[0].stats.planned == 3


def test_pooling_runs_in_two_crss_is_an_error():
    results, truths = _two_surveys()
    results[1] = run(results[1].detections, results[1].coverage, crs="EPSG:32648")
    with pytest.raises(ConfigError, match="several CRSs"):
        pool_runs(results, truths)


def test_pooling_needs_one_truth_set_per_run():
    results, truths = _two_surveys()
    with pytest.raises(ConfigError, match="one truth set per detection run"):
        pool_runs(results, truths[:1])
