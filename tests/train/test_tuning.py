"""Threshold tuning: every (merge rule, conf) pair from one run, and the rule that picks one."""

from __future__ import annotations

import pytest

from poppyscan.detect.merge import MergeSettings
from poppyscan.errors import ConfigError
from poppyscan.train.report import sweep_table
from poppyscan.train.tuning import (
    ThresholdChoice,
    pick_thresholds,
    sweep_merge_rules,
    threshold_choices,
)
from tests.train.runs import box, detection, run, truth


def choice(rule, conf, recall, precision, f1=None):
    return ThresholdChoice(rule, conf, recall, precision, f1)


def test_pick_is_the_most_precise_pair_at_or_above_the_recall_floor():
    choices = [choice("union", 0.3, 0.95, 0.60), choice("union", 0.5, 0.90, 0.80),
               choice("nms", 0.6, 0.85, 0.95)]  # most precise, but misses too many plots
    assert pick_thresholds(choices) == choices[1]
    assert pick_thresholds(choices, recall_floor=0.8) == choices[2]


def test_pick_breaks_precision_ties_by_recall_then_conf():
    by_recall = [choice("union", 0.4, 0.92, 0.8), choice("nms", 0.3, 0.97, 0.8)]
    assert pick_thresholds(by_recall).merge_rule == "nms"
    by_conf = [choice("union", 0.4, 0.92, 0.8), choice("core", 0.45, 0.92, 0.8)]
    assert pick_thresholds(by_conf).merge_rule == "core"


def test_without_a_pair_at_the_floor_the_best_f1_wins():
    choices = [choice("union", 0.3, 0.70, 0.60, 0.646), choice("nms", 0.5, 0.60, 0.90, 0.72),
               choice("core", 0.5, 0.65, 0.80, 0.72)]  # same F1, higher recall
    assert pick_thresholds(choices) == choices[2]


def test_best_f1_picks_the_best_f1_then_recall_then_precision():
    choices = [choice("union", 0.3, 0.95, 0.60, 0.74), choice("nms", 0.5, 0.80, 0.90, 0.85),
               choice("cluster", 0.4, 0.85, 0.85, 0.85), choice("core", 0.2, 0.85, 0.86, 0.85)]
    assert pick_thresholds(choices, rule="best-f1") == choices[3]
    with pytest.raises(ConfigError, match="best-f1, recall-floor"):
        pick_thresholds(choices, rule="most-precise")


def test_pairs_without_scores_count_as_zero():
    no_plots = choice("union", 0.3, None, None, None)
    assert pick_thresholds([no_plots, choice("nms", 0.3, 0.5, 0.5, 0.5)]).merge_rule == "nms"
    assert pick_thresholds([no_plots]) == no_plots


def test_picking_from_nothing_or_with_a_bad_floor_is_an_error():
    with pytest.raises(ConfigError, match="no \\(merge rule, conf\\) pairs"):
        pick_thresholds([])
    with pytest.raises(ConfigError, match="recall_floor=1.5"):
        pick_thresholds([choice("union", 0.3, 1.0, 1.0)], recall_floor=1.5)


def _cut_plot_run():
    """A 52 m2 plot cut by the edge of chips 0 and 1 (fragments at 0.8 and 0.6), and a 36 m2
    false target at 0.3 in chip 3."""
    fragments = [detection(5, 2, 18, 6, 0.8, col=0), detection(5, 2, 18, 6, 0.6, col=1)]
    result = run([*fragments, detection(30, 2, 36, 8, 0.3, col=3)], box(0, 0, 41.6, 12.8))
    return result, truth(box(5, 2, 18, 6))


def test_every_merge_rule_and_conf_is_scored_from_one_run():
    result, plots = _cut_plot_run()
    sweeps = sweep_merge_rules(result, plots, [MergeSettings("union", {"min_overlap": 0.3}),
                                               MergeSettings("nms")], (0.5, 0.2, 0.7),
                               min_area_m2=20.0)
    assert list(sweeps) == ["union", "nms"]
    assert [row["conf"] for row in sweeps["union"]] == [0.2, 0.5, 0.7]
    # union joins the two fragments into one target; nms keeps both, one of them a false target.
    assert [row["n_targets"] for row in sweeps["union"]] == [2, 1, 1]
    assert [row["n_targets"] for row in sweeps["nms"]] == [3, 2, 1]
    choices = threshold_choices(sweeps, min_area_m2=20.0)
    assert [(c.merge_rule, c.conf, c.recall, c.precision) for c in choices] == [
        ("union", 0.2, 1.0, 0.5), ("union", 0.5, 1.0, 1.0), ("union", 0.7, 1.0, 1.0),
        ("nms", 0.2, 1.0, 0.3333), ("nms", 0.5, 1.0, 0.5), ("nms", 0.7, 1.0, 1.0)]
    assert pick_thresholds(choices).to_dict() == {
        "merge_rule": "union", "conf": 0.7, "recall": 1.0, "precision": 1.0, "f1": 1.0,
        "min_area_m2": 20.0}
    # Scored on every plot, the false target (36 m2) counts at 0.2 for nms too.
    every = threshold_choices(sweep_merge_rules(result, plots, [MergeSettings("nms")], (0.2,),
                                                min_area_m2=0), min_area_m2=0)
    assert [(c.conf, c.recall, c.precision, c.min_area_m2) for c in every] == [
        (0.2, 1.0, 0.3333, 0.0)]
    table = sweep_table(sweeps["nms"], 20).splitlines()
    assert table[0].endswith("targets  P>=20  R>=20") and len(table) == 4


def test_each_rule_is_swept_once():
    result, plots = _cut_plot_run()
    with pytest.raises(ConfigError, match="name each rule once"):
        sweep_merge_rules(result, plots, [MergeSettings("nms"), MergeSettings("nms")])
    with pytest.raises(ConfigError, match="at least one"):
        sweep_merge_rules(result, plots, [])
