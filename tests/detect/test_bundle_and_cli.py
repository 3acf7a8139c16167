import json

import numpy as np
import pyogrio
import pytest
import yaml
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.detect.bundle import load_bundle
from poppyscan.detect.predictor import YoloPredictor
from poppyscan.errors import ModelError
from tests.detect.marks import make_marked_raster


def test_bundle_grid_comes_from_the_card(untrained_bundle):
    bundle = load_bundle(untrained_bundle.path)
    assert (bundle.grid.gsd_m, bundle.grid.tile_px, bundle.grid.overlap_px) == (0.05, 128, 32)
    assert bundle.classes == ["poppy"] and len(bundle.card["weights"]["sha256"]) == 64


def test_missing_card_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model card missing"):
        load_bundle(tmp_path)


def test_inconsistent_card_is_a_clear_error(untrained_bundle, tmp_path):
    card = yaml.safe_load((untrained_bundle.path / "card.yaml").read_text())
    (tmp_path / "weights.pt").write_bytes((untrained_bundle.weights_path).read_bytes())
    for change, message in [({"tile_px": 100}, "multiple of 32"), ({"classes": []}, "classes"),
                            ({"thresholds": {"conf": 2}}, "thresholds.conf")]:
        (tmp_path / "card.yaml").write_text(yaml.safe_dump({**card, **change}))
        with pytest.raises(ModelError, match=message):
            load_bundle(tmp_path)
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card))
    (tmp_path / "weights.pt").write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="sha256"):
        load_bundle(tmp_path)


def test_yolo_predictor_returns_boxes_in_chip_pixels(untrained_bundle):
    predictor = YoloPredictor(str(untrained_bundle.weights_path), conf=0.001, device="cpu")
    images = np.random.default_rng(0).integers(0, 255, (2, 128, 128, 3), dtype="uint8")
    out = predictor(images)
    assert len(out) == 2 and all(o.shape[1] == 6 for o in out)
    boxes = np.concatenate(out)
    assert len(boxes) and boxes[:, :4].min() >= 0 and boxes[:, :4].max() <= 128
    assert ((boxes[:, 4] >= 0.001) & (boxes[:, 4] <= 1)).all()


def test_detect_cli_writes_every_output(untrained_bundle, tmp_path):
    ortho = make_marked_raster(tmp_path / "m1.tif", (300, 260), [(40, 40, 90, 80)],
                               alpha_box=(0, 0, 240, 260))
    out = tmp_path / "out"
    args = ["detect", str(ortho), "--out", str(out), "--model", str(untrained_bundle.path),
            "--device", "cpu", "--mission", "M1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for name in ("targets.geojson", "plots.geojson", "targets.gpkg", "targets.gpx", "targets.kml",
                 "coverage.geojson", "run.json", "report.html"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["chips_processed"] == 9 and run["model"]["model_id"] == "untrained-yolo11n-0"
    assert run["inputs"][0]["sha256"]
    assert pyogrio.read_info(out / "targets.gpkg", layer="targets")["features"] == run["counts"]["targets"]
    assert len(list((out / "thumbs").glob("*.jpg"))) == run["counts"]["targets"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_model_info_json(untrained_bundle):
    result = CliRunner().invoke(cli, ["model", "info", "--model", str(untrained_bundle.path), "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["tile_px"] == 128 and card["weights_path"].endswith("weights.pt")


def test_detect_cli_bad_model_is_one_line(tmp_path):
    ortho = make_marked_raster(tmp_path / "m.tif", (128, 128), [])
    result = CliRunner().invoke(cli, ["detect", str(ortho), "--out", str(tmp_path / "o"),
                                      "--model", str(tmp_path)])
    assert result.exit_code == 2 and "model card missing" in result.output
    assert "Traceback" not in result.output


def test_a_card_may_name_a_merge_rule_per_class(untrained_bundle, tmp_path):
    card = yaml.safe_load((untrained_bundle.path / "card.yaml").read_text())
    (tmp_path / "weights.pt").write_bytes(untrained_bundle.weights_path.read_bytes())
    per_class = {**card, "classes": ["tree", "hut"],
                 "thresholds": {**card["thresholds"], "merge_rule": {"tree": "cluster",
                                                                     "hut": "union"}}}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(per_class))
    bundle = load_bundle(tmp_path)
    assert bundle.merge_settings().by_class == {0: "cluster", 1: "union"}
    assert bundle.merge_settings("nms").by_class == {}  # an override names one rule for all
    assert bundle.merge_settings({"tree": "nms", "hut": "nms"}).by_class == {0: "nms", 1: "nms"}
    per_class["thresholds"]["merge_rule"] = {"tree": "cluster"}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(per_class))
    with pytest.raises(ModelError, match=r"card.yaml: thresholds.merge_rule: merge rule per class .* lacks"):
        load_bundle(tmp_path).merge_settings()
