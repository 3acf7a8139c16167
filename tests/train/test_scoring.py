"""The matching rule, plot-level scores and pooled runs, on constructed polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from poppyscan.detect.merge import MergeSettings
from poppyscan.errors import ConfigError
from poppyscan.train.evaluate import evaluate_detections
from poppyscan.train.scoring import find_plots, match_targets, pool_runs, score_targets
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


COVER = shapely.box(-100, -100, 100, 100)


def _plots(*boxes) -> TruthPlots:
    return TruthPlots(np.array(boxes, dtype=object), (None,) * len(boxes), CRS(UTM_47N))


def test_an_undersized_box_inside_a_plot_does_not_match_at_iou_0_4():
    plot = shapely.box(0, 0, 10, 10)
    undersized = shapely.box(2, 2, 8, 8)  # IoU 36/100 = 0.36, centroid in the plot
    tiny = shapely.box(4, 4, 5, 5)  # IoU 0.01
    assert match_targets([undersized], [0.9], [plot], match_iou=0.4) == {}
    assert match_targets([undersized], [0.9], [plot], match_iou=0.35) == {0: 0}
    assert match_targets([tiny], [0.9], [plot], match_iou=0.4) == {}
    score, found = score_targets([undersized], [0.9], _plots(plot), COVER, conf=0.5, match_iou=0.4)
    assert (score.true_targets, score.recall, score.precision, score.f1) == (0, 0.0, 0.0, 0.0)
    assert not found.any()
    # The plot-finding rule, reported apart: the box does send the crew to the plot.
    assert (score.plots_found, score.targets_on_plots) == (1, 1)
    assert score.to_dict()["centroid_or_overlap"] == {
        "plots_found": 1, "recall": 1.0, "targets_on_plots": 1, "share_of_targets": 1.0}


def test_a_box_over_two_plots_matches_one_and_counts_once():
    plots = _plots(shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10))
    both = shapely.box(0, 0, 20, 10)  # IoU 100/200 = 0.5 with each
    assert match_targets([both], [0.9], plots.geometries, match_iou=0.4) == {0: 0}
    score, found = score_targets([both], [0.9], plots, COVER, conf=0.5, match_iou=0.4)
    assert (score.n_plots, score.n_targets, score.true_targets) == (2, 1, 1)
    assert (score.recall, score.precision) == (0.5, 1.0) and found.tolist() == [True, False]
    assert score.f1 == pytest.approx(2 / 3)
    assert (score.plots_found, score.targets_on_plots) == (2, 1)  # the rule is not one to one


def test_coco_greedy_order_the_most_confident_target_chooses_first():
    plot = shapely.box(0, 0, 10, 10)
    better_box, surer_box = shapely.box(0, 0, 10, 8), shapely.box(0, 0, 10, 6)  # IoU 0.8, 0.6
    assert match_targets([better_box, surer_box], [0.5, 0.9], [plot], match_iou=0.4) == {1: 0}
    # Each takes the free plot of highest IoU: the whole box takes the whole plot, so the
    # smaller box still finds the smaller plot.
    plots = [shapely.box(0, 0, 10, 8), shapely.box(0, 0, 10, 10)]
    assert match_targets([shapely.box(0, 0, 10, 10), shapely.box(0, 0, 10, 8)], [0.9, 0.5], plots,
                         match_iou=0.4) == {0: 1, 1: 0}


def test_a_target_whose_centroid_is_in_a_plot_it_does_not_touch_finds_it():
    ell = shapely.union(shapely.box(0, 0, 10, 1), shapely.box(0, 0, 1, 10))  # centroid ~(2.9, 2.9)
    plot = shapely.box(2.5, 2.5, 3.5, 3.5)
    assert not ell.intersects(plot) and plot.contains(ell.centroid)
    found, on_plot = find_plots([ell], np.array([plot], dtype=object))
    assert found.tolist() == [True] and on_plot.tolist() == [True]
    assert match_targets([ell], [0.9], [plot], match_iou=0.01) == {}


def test_a_touching_edge_finds_nothing():
    found, on_plot = find_plots([shapely.box(10, 0, 20, 10)], [shapely.box(0, 0, 10, 10)])
    assert found.tolist() == [False] and on_plot.tolist() == [False]


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


def test_each_class_is_scored_against_its_own_plots():
    # Two crowns and a hut; the model finds both crowns (one called a hut) and the hut.
    result = run([detection(1, 1, 4, 4, 0.9), detection(6, 1, 9, 4, 0.8, cls=1),
                  detection(1, 6, 5, 10, 0.7, cls=1)], box(0, 0, 12.8, 12.8))
    plots = truth(box(1, 1, 4, 4), box(6, 1, 9, 4), box(1, 6, 5, 10),
                  classes=("tree", "tree", "hut"))
    report = evaluate_detections(result, plots, conf=0.5, sweep=(), class_names=["tree", "hut"],
                                 merge=MergeSettings("cluster"))
    tree, hut = report.by_class["tree"], report.by_class["hut"]
    assert (tree.n_plots, tree.n_targets, tree.true_targets) == (2, 1, 1)
    assert (hut.n_plots, hut.n_targets, hut.true_targets) == (1, 2, 1)
    assert (report.score.true_targets, report.score.n_targets) == (3, 3)  # classes ignored
    assert report.to_dict()["by_class"]["hut"]["precision"] == 0.5
    assert "Class tree: Recall 50.0% (1/2)   Precision 100.0% (1/1)" in report.summary_text()
    # One class, or plots of no class: no per-class scores.
    assert evaluate_detections(result, plots, conf=0.5, sweep=(), class_names=["tree"]).by_class == {}
    assert evaluate_detections(result, truth(box(1, 1, 4, 4)), conf=0.5, sweep=(),
                               class_names=["tree", "hut"]).by_class == {}


def test_settings_that_are_not_the_cards_are_recorded():
    result = run([detection(1, 1, 4, 4, 0.9)], box(0, 0, 12.8, 12.8))
    card = {"conf": 0.65, "merge_rule": "union"}
    report = evaluate_detections(result, truth(box(1, 1, 4, 4)), conf=0.2, sweep=(),
                                 merge=MergeSettings("cluster"), class_names=["tree"], card=card)
    assert report.to_dict()["differs_from_card"] == {
        "conf": {"used": 0.2, "card": 0.65}, "merge_rule": {"used": "cluster", "card": "union"}}
    text = report.summary_text()
    assert "Settings not the model card's: conf 0.2 (card 0.65); merge cluster (card union)" in text
    same = evaluate_detections(result, truth(box(1, 1, 4, 4)), conf=0.65, sweep=(),
                               class_names=["tree"], card=card)
    assert same.differs_from_card == {} and "not the model card" not in same.summary_text()


def test_f1_is_zero_without_targets_and_undefined_without_plots_or_targets():
    score, _ = score_targets([], [], _plots(shapely.box(0, 0, 10, 10)), COVER, conf=0.5)
    assert (score.precision, score.recall, score.f1) == (None, 0.0, 0.0)
    empty, _ = score_targets([], [], _plots(), COVER, conf=0.5)
    assert (empty.precision, empty.recall, empty.f1) == (None, None, None)
