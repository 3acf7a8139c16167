"""Thresholds picked on a labelled flight, written as a new bundle; two models side by side."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.detect.bundle import ModelBundle, load_bundle, write_bundle
from poppyscan.errors import ConfigError
from poppyscan.provenance import sha256_file
from poppyscan.train.calibrate import calibrate
from poppyscan.train.compare import compare_models
from poppyscan.train.evaluate import evaluate
from tests.train.loop import GRID
from tests.train.marked import RednessPredictor


def _card(name: str, conf: float, merge_rule="union") -> dict:
    return {"name": name, "model_id": f"{name}-0000", "architecture": "redness",
            "classes": ["poppy"], "gsd_m": GRID.gsd_m, "tile_px": GRID.tile_px,
            "overlap_px": GRID.overlap_px,
            "thresholds": {"conf": conf, "iou_nms": 0.5, "merge_rule": merge_rule,
                           "min_overlap": 0.3},
            "heldout": {"scores": "at the parent's thresholds"}}


@pytest.fixture()
def redness(tmp_path, monkeypatch):
    """A bundle whose 'model' boxes red blobs, conf = redness (the card's conf: 0.9)."""
    monkeypatch.setattr(ModelBundle, "predictor", lambda self, device=None, conf=None, backend="auto",
                        precision="auto": RednessPredictor())
    weights = tmp_path / "redness.pt"
    weights.write_bytes(b"not a network: the predictor is patched")
    return write_bundle(tmp_path / "redness", weights, _card("redness", 0.9))


def test_evaluate_honours_and_records_conf_and_merge(redness, marked):
    ortho, plots = marked
    card = evaluate(redness, [ortho], plots, sweep=())
    assert card.settings == {"conf": 0.9, "merge_rule": "union"} and card.differs_from_card == {}
    assert card.score.n_targets == 3  # B (redness 0.78) is below 0.9
    low = evaluate(redness, [ortho], plots, conf=0.5, merge="nms", sweep=())
    assert low.score.n_targets > 4  # nms keeps the fragments of C, cut by chip edges
    assert low.to_dict()["differs_from_card"] == {
        "conf": {"used": 0.5, "card": 0.9}, "merge_rule": {"used": "nms", "card": "union"}}


def test_calibration_writes_a_new_bundle_that_says_what_was_picked(redness, marked, tmp_path):
    ortho, plots = marked
    found = calibrate(redness, [ortho], [plots], tmp_path / "cal", rule="recall-floor",
                      recall_floor=0.7, min_area_m2=0)
    # Recall 0.75 needs B (conf 0.78): the most precise pair at the floor is union at 0.75.
    assert (found.picked.merge_rule, found.picked.conf) == ("union", 0.75)
    assert (found.picked.recall, found.picked.precision) == (0.75, 0.75)
    bundle = load_bundle(tmp_path / "cal")
    card = bundle.card
    assert bundle.model_id.startswith("redness-0000-cal-") and bundle.model_id != redness.model_id
    assert card["thresholds"]["conf"] == 0.75 and card["thresholds"]["merge_rule"] == "union"
    cal = card["calibration"]
    assert cal["parent_model_id"] == "redness-0000"
    assert cal["parent_sha256"] == redness.card["weights"]["sha256"]
    assert cal["by"] == {"rule": "recall-floor", "recall_floor": 0.7, "match_iou": 0.4,
                         "min_area_m2": 0.0}
    assert cal["files"] == [{"role": "ortho", "name": "marked.tif", "sha256": sha256_file(ortho)},
                            {"role": "labels", "name": "plots.geojson",
                             "sha256": sha256_file(plots)}]
    assert cal["parent_scores"] == {"heldout": {"scores": "at the parent's thresholds"}}
    assert "heldout" not in card
    assert sha256_file(bundle.weights_path) == sha256_file(redness.weights_path)
    assert found.report.model_id == bundle.model_id and found.report.score.recall == 0.75
    # The same pick on the same files gives the same id; another rule, another id.
    again = calibrate(redness, [ortho], [plots], tmp_path / "cal2", rule="recall-floor",
                      recall_floor=0.7, min_area_m2=0)
    assert again.bundle.model_id == bundle.model_id
    best = calibrate(redness, [ortho], [plots], tmp_path / "cal3", min_area_m2=0)
    assert best.bundle.card["calibration"]["by"]["rule"] == "best-f1"
    assert best.bundle.model_id != bundle.model_id
    # Calibrating a calibrated bundle names the weights' model, not a chain of ids.
    twice = calibrate(bundle, [ortho], [plots], tmp_path / "cal4", min_area_m2=0)
    assert twice.bundle.model_id.startswith("redness-0000-cal-")
    assert twice.bundle.model_id.count("-cal-") == 1
    assert twice.bundle.card["calibration"]["parent_model_id"] == bundle.model_id
    with pytest.raises(ConfigError, match="already holds a model bundle"):
        calibrate(redness, [ortho], [plots], tmp_path / "cal")
    with pytest.raises(ConfigError, match="is the model being calibrated"):
        calibrate(redness, [ortho], [plots], redness.path, overwrite=True)


def test_compare_scores_each_model_once_side_by_side(redness, marked, tmp_path):
    ortho, plots = marked
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    other = write_bundle(tmp_path / "low", weights, _card("low", 0.5, merge_rule="nms"))
    table = compare_models([redness, other], [ortho], [plots])
    assert [m["model_id"] for m in table.models] == ["redness-0000", "low-0000"]
    high, low = table.scores["redness-0000"], table.scores["low-0000"]
    assert (high[0.4].n_targets, high[0.4].true_targets, high[0.4].recall) == (3, 2, 0.5)
    assert low[0.4].recall == 0.75 and low[0.4].n_targets > high[0.4].n_targets
    text = table.table_text()
    assert text.splitlines()[1].split() == ["redness-0000", "low-0000"]
    assert "recall, IoU >= 0.5" in text and "false targets/km2, IoU >= 0.4" in text
    data = json.loads(table.to_json())
    assert data["models"][1]["merge_rule"] == "nms"
    assert set(data["models"][0]["scores"]) == {"iou_0.4", "iou_0.5"}
    with pytest.raises(ConfigError, match="at least two"):
        compare_models([redness], [ortho], [plots])


def test_pick_and_compare_from_the_command_line(redness, marked, tmp_path):
    ortho, plots = map(str, marked)
    runner = CliRunner()
    out = tmp_path / "cal"
    picked = runner.invoke(cli, ["evaluate", "--model", str(redness.path), "--ortho", ortho,
                                 "--labels", plots, "--pick", "recall-floor", "--recall-floor",
                                 "0.7", "--min-area", "0", "--out-model", str(out),
                                 "--out", str(tmp_path / "r.json")])
    assert picked.exit_code == 0, picked.output
    card = yaml.safe_load((out / "card.yaml").read_text())
    assert "Picked by recall-floor (recall floor 0.7) on all plots: conf 0.75, merge union" in (
        picked.output)
    assert card["model_id"] in picked.output and "optimistic" in picked.output
    assert json.loads((tmp_path / "r.json").read_text())["model_id"] == card["model_id"]
    no_out = runner.invoke(cli, ["evaluate", "--model", str(redness.path), "--ortho", ortho,
                                 "--labels", plots, "--pick", "best-f1"])
    assert no_out.exit_code == 2 and "--out-model" in no_out.output
    merged = runner.invoke(cli, ["evaluate", "--model", str(redness.path), "--ortho", ortho,
                                 "--labels", plots, "--merge", "cluster", "--conf", "0.5",
                                 "--sweep", "none", "--json"])
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.output)["differs_from_card"]["merge_rule"] == {
        "used": "cluster", "card": "union"}
    bad = runner.invoke(cli, ["evaluate", "--ortho", ortho, "--labels", plots, "--merge", "chain"])
    assert bad.exit_code == 2 and "--merge" in bad.output
    compared = runner.invoke(cli, ["compare", "--model", str(redness.path), "--model", str(out),
                                   "--ortho", ortho, "--labels", plots])
    assert compared.exit_code == 0, compared.output
    assert card["model_id"] in compared.output and "F1, IoU >= 0.4" in compared.output
