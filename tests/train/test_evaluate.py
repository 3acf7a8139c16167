"""Evaluation: whole orthomosaics through the real pipeline, targets matched to plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poppyscan.detect.pipeline import run_detection
from poppyscan.detect.runtime import Runtime
from poppyscan.synth import STAGES
from poppyscan.tiles.geometry import pixel_box_to_polygon
from poppyscan.train import evaluate as evaluate_module
from poppyscan.train import scoring
from poppyscan.train import truth as truth_module
from poppyscan.train.dataset import build_dataset
from poppyscan.train.evaluate import evaluate, evaluate_detections
from poppyscan.train.report import EvaluationReport
from poppyscan.train.training import train_model
from poppyscan.train.truth import TruthPlots, read_truth
from tests.data.rasters import ORIGIN
from tests.train.loop import GRID, block_network, synthetic_survey, tiny_config
from tests.train.marked import AREA_KM2, TRANSFORM, RednessPredictor


def _report(ortho, truth, *, conf=0.5, sweep=(0.5, 0.9)):
    result = run_detection([str(ortho)], RednessPredictor(), GRID, runtime=Runtime(workers=1))
    plots = read_truth(truth, crs=result.crs)
    return evaluate_detections(result, plots, conf=conf, model_id="redness", sweep=sweep,
                               min_area_m2=20)


def test_plot_level_scores_count_targets_against_plots(marked):
    report = _report(*marked)
    s = report.score
    assert (s.n_plots, s.n_targets, s.true_targets, s.false_targets, s.missed) == (4, 4, 3, 1, 1)
    assert s.recall == pytest.approx(0.75) and s.precision == pytest.approx(0.75)
    assert s.f1 == pytest.approx(0.75)
    assert s.area_km2 == pytest.approx(AREA_KM2)
    assert s.false_per_km2 == pytest.approx(1 / AREA_KM2)


def test_recall_by_plot_size_and_stage(marked):
    report = _report(*marked)
    assert report.recall_by_size == {
        "<20": {"plots": 2, "found": 1, "recall": 0.5},
        "20-100": {"plots": 1, "found": 1, "recall": 1.0},
        "100-600": {"plots": 1, "found": 1, "recall": 1.0},
        ">=600": {"plots": 0, "found": 0, "recall": None},
    }
    assert report.recall_by_stage == {
        "capsule": {"plots": 1, "found": 1, "recall": 1.0},
        "flowering": {"plots": 1, "found": 1, "recall": 1.0},
        "rosette": {"plots": 2, "found": 1, "recall": 0.5},
    }


def test_conf_sweep_re_merges_the_same_detections(marked):
    report = _report(*marked, sweep=(0.5, 0.9))
    low, high = report.sweep
    assert (low["conf"], low["n_targets"], low["true_targets"]) == (0.5, 4, 3)
    # B's redness is 200/255 = 0.78: gone at 0.9.
    assert (high["conf"], high["n_targets"], high["true_targets"]) == (0.9, 3, 2)
    assert high["recall"] == 0.5 and high["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert {k: v for k, v in low.items() if k != "min_area"} == report.score.to_dict()
    assert low["min_area"] == report.score_min_area.to_dict()


def test_scores_for_plots_of_20_m2_or_more_leave_small_plots_out(marked):
    report = _report(*marked, sweep=(0.5, 0.9))
    big = report.score_min_area
    # Plots B (36 m2) and C (121 m2) count; the target on A (9 m2) is ignored, and so is the
    # false target E (9 m2): COCO's area-range rule.
    assert report.min_area_m2 == 20
    assert (big.n_plots, big.n_targets, big.true_targets, big.false_targets) == (2, 2, 2, 0)
    assert big.recall == 1.0 and big.precision == 1.0
    high = report.sweep[1]["min_area"]  # B is gone at 0.9
    assert (high["n_plots"], high["n_targets"], high["true_targets"]) == (2, 1, 1)
    assert "Plots of 20 m2 or more: Recall 100.0% (2/2)   Precision 100.0% (2/2)" in report.summary_text()


def test_report_json_and_summary(marked, tmp_path):
    report = _report(*marked)
    data = json.loads(report.to_json(tmp_path / "report.json"))
    assert json.loads((tmp_path / "report.json").read_text()) == data
    assert data["recall"] == 0.75 and data["plots_outside_coverage"] == 0
    assert data["false_per_km2"] == pytest.approx(1 / AREA_KM2, abs=0.01)
    text = report.summary_text()
    assert "Recall 75.0% (3/4)" in text and "Precision 75.0% (3/4)" in text
    assert "rosette 50.0% (1/2)" in text
    assert str(ORIGIN[0])[:6] not in text  # no coordinates in the summary


def test_plots_off_the_examined_ground_are_not_counted(marked):
    ortho, truth = marked
    result = run_detection([str(ortho)], RednessPredictor(), GRID, runtime=Runtime(workers=1))
    plots = read_truth(truth, crs=result.crs)
    outside = pixel_box_to_polygon(TRANSFORM, 600, 100, 640, 140)  # east of the raster
    more = TruthPlots(np.append(plots.geometries, outside), (*plots.stages, "rosette"), plots.crs)
    report = evaluate_detections(result, more, conf=0.5, sweep=())
    assert report.score.n_plots == 4 and report.n_plots_total == 5
    assert report.to_dict()["plots_outside_coverage"] == 1


def test_build_train_evaluate_on_a_synthetic_survey(tmp_path, monkeypatch):
    block_network(monkeypatch)
    survey = synthetic_survey(tmp_path / "survey")
    ds = tmp_path / "ds"
    summary = build_dataset([survey.ortho_path], survey.plots_path, ds, grid=GRID, seed=0)
    bundle = train_model(ds, tmp_path / "model", config=tiny_config())
    report = evaluate(tmp_path / "model", [survey.ortho_path], survey.plots_path,
                      runtime=Runtime(device="cpu", workers=2), data_dir=ds, sweep=(0.05, 0.5))
    assert report.model_id == bundle.model_id
    assert report.score.conf == 0.05  # the card's threshold
    assert report.n_plots_total == len(survey.plots)
    assert report.score.n_plots == len(survey.plots)  # the survey's plots lie on imaged ground
    assert set(report.recall_by_stage) <= set(STAGES)
    assert sum(b["plots"] for b in report.recall_by_size.values()) == report.score.n_plots
    assert report.chip_metrics["images"] == summary.splits["test"]["images"] > 0
    assert set(report.chip_metrics) >= {"mAP50", "mAP50-95", "precision", "recall"}
    assert [row["conf"] for row in report.sweep] == [0.05, 0.5]
    area_km2 = survey.footprint.area / 1e6
    assert report.score.area_km2 == pytest.approx(area_km2, rel=0.05)  # the flight, not the collar
    assert json.loads(report.to_json())["model_id"] == bundle.model_id


def test_the_parts_stay_importable_from_evaluate():
    assert evaluate_module.read_truth is truth_module.read_truth
    assert evaluate_module.TruthPlots is truth_module.TruthPlots
    assert evaluate_module.EvaluationReport is EvaluationReport
    assert evaluate_module.match_targets is scoring.match_targets
    assert (evaluate_module.DEFAULT_SWEEP, evaluate_module.HEADLINE_MIN_AREA_M2) == (
        scoring.DEFAULT_SWEEP, 0.0)  # no headline area unless the card or the user names one
    assert all(hasattr(evaluate_module, name) for name in evaluate_module.__all__)
