"""The demo model's recipe, card edits and held-out scoring (scripts/train_demo_model.py)."""

from __future__ import annotations

from importlib import resources
from types import SimpleNamespace

import numpy as np
import pyogrio.raw
import pytest
import shapely
import yaml

from poppyscan.detect.backends.precision import MAX_LOSS
from poppyscan.detect.merge import DEFAULT_MERGE
from poppyscan.errors import ConfigError
from poppyscan.train.demo_card import (
    candidate,
    precision_passes,
    with_card_extras,
    with_heldout,
    with_precision_check,
)
from poppyscan.train.demo_recipe import load_recipe
from poppyscan.train.heldout import (
    ON_A_PLOT,
    OPEN_GROUND,
    held_out_false_targets,
    heldout_markdown,
    heldout_row,
    lie_on_counts,
)
from tests.data.rasters import UTM_47N
from tests.train.runs import box, detection, run, truth


def test_builtin_recipe_keeps_the_seeds_and_plans_the_bundled_model_was_made_with():
    recipe = load_recipe()
    assert list(recipe.survey_sets)[:3] == ["train_surveys", "tune_surveys", "heldout_surveys"]
    train = recipe.survey_sets["train_surveys"]
    assert len(train.plan) == 32 and train.plan[:1] == ((0.05, 3072),)
    assert train.plan[20:21] == ((0.08, 1920),) and train.plan[-1] == (0.02, 4096)
    tune = recipe.survey_sets["tune_surveys"]
    assert tune.seed_range() == "800-811" and tune.plan[5:7] == ((0.02, 6144), (0.05, 3072))
    assert recipe.survey_sets["heldout_surveys"].seed_range() == "900-911"
    assert recipe.survey_sets["lookalike_surveys"].distractors_per_ha == 40.0
    assert recipe.survey_sets["small_surveys"].distractors_per_ha == 12.0
    assert [(h.name, h.seeds) for h in recipe.real_train.values()] == [
        ("oamtcd_philippines_10cm.tif", 4), ("OSBS_029.tif", 8), ("australia_drone_1p8cm.tif", 6)]
    real6 = recipe.datasets["dataset-real6"]
    assert real6.survey_sets == ("train_surveys", "lookalike_surveys") and real6.real
    assert len(real6.hard_negatives) == 6
    assert [n for n, d in recipe.datasets.items() if not d.hard_negatives] == [
        "dataset", "dataset-10cm"]
    assert recipe.datasets["dataset"].survey_sets == ("train_surveys",)


def _write_recipe(tmp_path, edit):
    builtin = resources.files("poppyscan.configs") / "train" / "demo_recipe.yaml"
    raw = yaml.safe_load(builtin.read_text())
    edit(raw)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r["datasets"]["dataset"].update(survey_sets=["nope"]),
     "datasets.dataset.survey_sets: unknown"),
    (lambda r: r["survey_sets"]["train_surveys"].update(plan=[[0.05, 3072, 0]]),
     "survey_sets.train_surveys.plan"),
    (lambda r: r.update(plot_density_per_ha="ten"), "plot_density_per_ha='ten'"),
    (lambda r: r["datasets"]["dataset"].pop("grid"), "malformed recipe"),
    (lambda r: r["datasets"]["dataset"].update(grid=[0.05, 640, 700]), "overlap_px=700"),
])
def test_a_broken_recipe_is_one_line_naming_the_file_and_key(tmp_path, edit, message):
    path = _write_recipe(tmp_path, edit)
    with pytest.raises(ConfigError, match=message) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_a_written_recipe_reads_back_the_same(tmp_path):
    assert load_recipe(_write_recipe(tmp_path, lambda r: None)) == load_recipe()


CARD = {"name": "m", "model_id": "m-1", "architecture": "yolo11n", "gsd_m": 0.05, "tile_px": 640,
        "overlap_px": 128, "thresholds": {"conf": 0.3}, "training": {"epochs_run": 8},
        "exports": {"openvino": {"file": "weights.xml"}}}
ROW = {"recall_ge20": 0.9, "precision_ge20": 0.8, "recall": 0.85, "precision": 0.87,
       "recall_lt20": 0.7, "false_per_km2": 120.04, "targets": 160, "cpu_s_per_km2": 231.3}


def test_card_extras_go_right_after_the_thresholds_and_replace_old_values():
    card = with_card_extras({**CARD, "headline_min_area_m2": 5.0}, load_recipe().card_extras)
    keys = list(card)
    at = keys.index("thresholds")
    assert keys[at + 1:at + 3] == ["headline_min_area_m2", "full_priority_area_m2"]
    assert card["headline_min_area_m2"] == 20.0 and keys.count("headline_min_area_m2") == 1


def test_heldout_section_names_the_seeds_and_keeps_the_input_card():
    before = yaml.safe_dump(CARD)
    card = with_heldout(CARD, load_recipe(), {"all": ROW}, {"conf": 0.3}, {}, ["step 1"],
                        {"conf": 0.3, "pooled": {}})
    assert card["heldout"]["surveys"] == "synthetic seeds 900-911, never trained or tuned on"
    assert card["thresholds_picked_on"] == {"surveys": "synthetic seeds 800-811", "conf": 0.3}
    assert "compared_on_heldout" not in card
    assert card["training"] == {"epochs_run": 8, "lineage": ["step 1"]}
    assert card["real_false_targets"]["held_out"] == (
        "SJER_477.tif, oamtcd_brazil_10cm.tif (never trained on)")
    assert card["not_compared"].startswith("yolo11s: not trained")
    assert yaml.safe_dump(CARD) == before


@pytest.mark.parametrize(("drop", "verdict"), [(MAX_LOSS / 2, "bf16"), (MAX_LOSS * 2, "f32")])
def test_precision_check_runs_bf16_only_within_max_loss(drop, verdict):
    rows = {"f32": ROW, "bf16": {**ROW, "precision_ge20": ROW["precision_ge20"] - drop}}
    card = with_precision_check(CARD, load_recipe(), rows, {"f32": 0.3, "bf16": 0.35})
    entry = card["exports"]["openvino"]
    assert precision_passes(rows) is (verdict == "bf16")
    assert entry["precision"] == verdict and entry["file"] == "weights.xml"
    assert entry["thresholds"] == {"bf16": {"conf": 0.35}}
    assert entry["precision_check"]["bf16"]["conf"] == 0.35
    assert entry["precision_check"]["on"].startswith("12 held-out synthetic surveys (seeds 900-911)")
    assert "precision" not in CARD["exports"]["openvino"]


def test_candidate_line_rounds_the_pooled_scores():
    line = candidate(CARD, {"all": {**ROW, "recall_lt20": None}})
    assert line == {"m-1": {"grid": "0.05 m, 640 px, overlap 128 px", "architecture": "yolo11n",
                            "epochs": 8, "thresholds": {"conf": 0.3}, "recall_ge20": 0.9,
                            "precision_ge20": 0.8, "recall_lt20": None, "false_per_km2": 120.04,
                            "cpu_s_per_km2": 231.3}}


def test_heldout_row_and_table():
    report = SimpleNamespace(
        score=SimpleNamespace(area_km2=0.123456, n_plots=8, n_targets=9, recall=0.7,
                              precision=0.666666, false_per_km2=12.345),
        score_min_area=SimpleNamespace(n_plots=5, recall=0.81234, precision=None),
        recall_by_size={"<20": {"plots": 3, "recall": 0.5}},
        recall_by_stage={"rosette": {"recall": 0.5}})
    row = heldout_row(report)
    assert row == {"area_km2": 0.1235, "plots": 8, "targets": 9, "recall": 0.7,
                   "precision": 0.6667, "false_per_km2": 12.3, "plots_ge20": 5,
                   "recall_ge20": 0.8123, "precision_ge20": None, "plots_lt20": 3,
                   "recall_lt20": 0.5, "recall_by_stage": {"rosette": 0.5}}
    rows = {"5 cm": {"surveys": 2, **row}, "all": {"surveys": 2, **row, "cpu_s_per_km2": 99.5,
                                                   "false_ge20_lie_on": {"maize": 2}}}
    table = heldout_markdown(rows, "m-1").splitlines()
    assert table[0] == "Held-out surveys, m-1:"
    assert table[3] == ("| 5 cm | 2 | 0.123 | 5 | 0.812 | n/a | 3 | 0.500 | 12.3 | 0.500 |")
    assert table[-2:] == ["CPU detection time: 99.5 s per km2 (this machine)",
                          "False targets >= 20 m2 lie on: maize 2"]


def test_false_targets_are_told_by_what_they_lie_on(tmp_path):
    survey = tmp_path / "s1" / "ortho.tif"
    survey.parent.mkdir()
    maize = box(20, 1, 27, 8)
    pyogrio.raw.write(survey.parent / "distractors.geojson", shapely.to_wkb(np.array([maize])),
                      field_data=[np.array(["maize"], dtype=object)], fields=["kind"],
                      crs=UTM_47N, geometry_type="Polygon", driver="GeoJSON")
    detections = [detection(2, 2, 7, 7, 0.9),                 # matches plot 1
                  detection(43.5, 1, 50, 7, 0.5, col=4),      # touches plot 2, IoU 0.13
                  detection(20, 2, 26, 8, 0.7, col=2),        # on the look-alike
                  detection(30, 2, 36, 8, 0.6, col=3),        # open ground
                  detection(12, 2, 15, 5, 0.95, col=1)]       # 9 m2: under the headline area
    bundle = SimpleNamespace(card={"headline_min_area_m2": 20.0}, conf=0.3,
                             merge_settings=lambda rule=None: DEFAULT_MERGE)
    found = held_out_false_targets(bundle, run(detections, box(0, 0, 60, 12.8)),
                                   truth(box(2, 2, 7, 7), box(40, 2, 45, 7)), [survey])
    assert [(what, round(t.conf, 2)) for what, t in found] == [
        ("maize", 0.7), (OPEN_GROUND, 0.6), (ON_A_PLOT, 0.5)]
    assert lie_on_counts(found) == {ON_A_PLOT: 1, "maize": 1, OPEN_GROUND: 1}
    at_conf = held_out_false_targets(bundle, run(detections, box(0, 0, 60, 12.8)),
                                     truth(box(2, 2, 7, 7), box(40, 2, 45, 7)), [survey], conf=0.65)
    assert [what for what, _ in at_conf] == ["maize"]
