"""Training: offline, from a model YAML, resumable, ending in a loadable model bundle.

One epoch on a dozen chips: these tests prove the loop, not accuracy.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from poppyscan.detect.bundle import load_bundle, write_untrained_bundle
from poppyscan.detect.predictor import YoloPredictor
from poppyscan.errors import ConfigError
from poppyscan.provenance import sha256_file
from poppyscan.train.dataset import build_dataset
from poppyscan.train.training import (
    check_train_config,
    small_data_batch,
    train_model,
    ultralytics_device,
)
from tests.train.loop import GRID, block_network, tiny_config


@pytest.fixture(scope="module")
def osbs_ds(tmp_path_factory, real_dir):
    out = tmp_path_factory.mktemp("train") / "osbs_ds"
    build_dataset([real_dir / "OSBS_029.tif"], real_dir / "OSBS_029.csv", out, grid=GRID, seed=0)
    return out


def _epochs_run(run_dir) -> int:
    with open(run_dir / "results.csv") as fh:
        return len(list(csv.DictReader(fh)))


def test_tiny_training_writes_a_bundle_on_the_dataset_grid(osbs_ds, tmp_path, monkeypatch):
    block_network(monkeypatch)
    bundle = train_model(osbs_ds, tmp_path / "model", config=tiny_config())
    reloaded = load_bundle(tmp_path / "model")  # checks the sha256 against the weights
    card = reloaded.card
    assert reloaded.grid == GRID
    assert card["classes"] == ["Tree"]
    assert card["architecture"] == "yolo11n"
    assert card["model_id"] == f"tiny-{sha256_file(bundle.weights_path)[:8]}"
    assert card["thresholds"] == {"conf": 0.05, "iou_nms": 0.5, "merge_rule": "union",
                                  "min_overlap": 0.3}
    assert set(card["metrics"]) == {"split", "precision", "recall", "mAP50", "mAP50-95"}
    assert all(0 <= card["metrics"][k] <= 1 for k in ("precision", "recall", "mAP50", "mAP50-95"))
    assert card["data"]["splits"]["train"]["images"] > 0 and card["data"]["crs"] == "EPSG:32617"
    assert card["training"]["device"] == "cpu" and card["training"]["imgsz"] == 128
    assert "one epoch" in card["notice"]
    assert _epochs_run(tmp_path / "model" / "run") == 1
    # The weights run in the detection predictor, on chips of the card's size.
    boxes = YoloPredictor(str(reloaded.weights_path), conf=0.001, device="cpu")(
        np.zeros((2, 128, 128, 3), dtype="uint8"))
    assert len(boxes) == 2 and all(b.shape[1] == 6 for b in boxes)
    assert card["training"]["run"] == "trained" and card["training"]["epochs_run"] == 1
    with pytest.raises(ConfigError, match="already holds a model bundle"):
        train_model(osbs_ds, tmp_path / "model", config=tiny_config())
    # A finished run is bundled again without training: e.g. with the threshold a sweep picked.
    # Without a name or notice in the config, both come from the user's data, never the demo's.
    rebundled = train_model(osbs_ds, tmp_path / "model", overwrite=True,
                            config=tiny_config(conf=0.3, name=None, notice=None))
    assert rebundled.conf == 0.3 and rebundled.card["training"]["run"] == "reused"
    assert rebundled.card["name"] == "osbs-ds" and "notice" not in rebundled.card
    assert rebundled.card["weights"]["sha256"] == card["weights"]["sha256"]
    assert _epochs_run(tmp_path / "model" / "run") == 1


def test_trained_bundle_is_exported_for_the_fast_cpu_runtimes(osbs_ds, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("openvino")
    block_network(monkeypatch)
    bundle = train_model(osbs_ds, tmp_path / "model", config=tiny_config(export=["onnx", "openvino"]))
    assert set(bundle.card["exports"]) == {"onnx", "openvino"}
    assert all(e["source_sha256"] == bundle.card["weights"]["sha256"]
               for e in bundle.card["exports"].values())
    assert bundle.predictor("cpu").backend == "openvino"
    with pytest.raises(ConfigError, match="export="):
        train_model(osbs_ds, tmp_path / "m2", config=tiny_config(export=["tensorrt"]))


def test_small_datasets_get_several_optimizer_steps_per_epoch(caplog):
    assert small_data_batch(64, 16, {}) == (8, {"nbs": 8})  # 8 steps, not 1
    assert small_data_batch(12, 4, {"mosaic": 0.0}) == (2, {"mosaic": 0.0, "nbs": 2})
    assert "12 training chips: a nominal batch of 64 images would give 0.2" in caplog.text
    assert small_data_batch(512, 16, {}) == (16, {})  # 8 steps at the nominal batch already
    assert small_data_batch(64, 16, {"nbs": 64}) == (16, {"nbs": 64})  # the user's choice stands


def test_fine_tuning_another_models_classes_and_gsd_says_so(osbs_ds, tmp_path, monkeypatch,
                                                            caplog):
    block_network(monkeypatch)
    parent = write_untrained_bundle(tmp_path / "poppy", tile_px=128, overlap_px=32, gsd_m=0.05)
    bundle = train_model(osbs_ds, tmp_path / "trees", config=tiny_config(
        architecture=str(parent.weights_path)))
    assert "detects classes ['poppy']; this dataset has ['Tree']" in caplog.text
    assert "trained at gsd_m 0.05 m; this dataset is at 0.1 m" in caplog.text
    start = bundle.card["training"]["fine_tuned_from"]
    assert start["model_id"] == parent.model_id and start["sha256"] == parent.card["weights"]["sha256"]
    assert len(start["changed"]) == 2 and "tile_px" not in " ".join(start["changed"])
    # 12 training chips: nbs 2, batch 2 (six steps per epoch), recorded in the card.
    assert (bundle.card["training"]["nbs"], bundle.card["training"]["batch"]) == (2, 2)


def test_interrupted_training_resumes_from_last_checkpoint(osbs_ds, tmp_path, monkeypatch):
    block_network(monkeypatch)
    from ultralytics.utils.callbacks import base

    def crash_after_first_save(trainer):
        raise KeyboardInterrupt("simulated power cut")

    monkeypatch.setitem(base.default_callbacks, "on_model_save", [crash_after_first_save])
    with pytest.raises(KeyboardInterrupt):
        train_model(osbs_ds, tmp_path / "model", config=tiny_config(epochs=2))
    last = tmp_path / "model" / "run" / "weights" / "last.pt"
    assert last.is_file() and not (tmp_path / "model" / "card.yaml").exists()
    assert _epochs_run(tmp_path / "model" / "run") == 1

    monkeypatch.setitem(base.default_callbacks, "on_model_save", [])
    bundle = train_model(osbs_ds, tmp_path / "model", config=tiny_config(epochs=2))
    assert _epochs_run(tmp_path / "model" / "run") == 2  # continued, not restarted
    assert bundle.card["training"]["epochs"] == 2 and bundle.card["training"]["run"] == "resumed"


def test_training_config_is_checked_up_front(osbs_ds, tmp_path):
    with pytest.raises(ConfigError, match="unknown keys \\['epoch'\\]"):
        check_train_config({"epoch": 3})
    with pytest.raises(ConfigError, match="epochs=0"):
        check_train_config({"epochs": 0})
    with pytest.raises(ConfigError, match="merge_rule='max'.*union, nms, contain, core, cluster"):
        check_train_config({"merge_rule": "max"})
    with pytest.raises(ConfigError, match="hyp may not set \\['epochs'\\]"):
        check_train_config({"hyp": {"epochs": 3}})
    with pytest.raises(ConfigError, match="imgsz=640 differs from the dataset's tile_px=128"):
        train_model(osbs_ds, tmp_path / "m", config=tiny_config(imgsz=640))
    with pytest.raises(ConfigError, match="not Ultralytics train arguments"):
        train_model(osbs_ds, tmp_path / "m", config=tiny_config(hyp={"mosiac": 0.5}))
    with pytest.raises(ConfigError, match="no such model YAML"):
        train_model(osbs_ds, tmp_path / "m", config=tiny_config(architecture="yolo99n.yaml"))
    with pytest.raises(ConfigError, match="no such weights file"):
        train_model(osbs_ds, tmp_path / "m", config=tiny_config(architecture="missing.pt"))
    with pytest.raises(ConfigError, match="not a poppyscan dataset"):
        train_model(tmp_path, tmp_path / "m", config=tiny_config())
    assert ultralytics_device("cpu") == "cpu"
