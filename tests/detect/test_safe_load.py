"""Weights load without running code from their pickle; cards are checked type by type."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.detect.bundle import load_bundle, write_bundle
from poppyscan.detect.predictor import YoloPredictor
from poppyscan.detect.safe_load import enable_safe_loading, load_checkpoint, load_model
from poppyscan.errors import ModelError


class _Exec:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


class _System(_Exec):
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _PathTouch(_Exec):
    """A method of an allow-listed class (pathlib paths are in Ultralytics' list)."""

    def __reduce__(self):
        return self.marker.touch, ()


PAYLOADS = {"exec": _Exec, "os.system": _System, "Path.touch": _PathTouch}


def write_payload_weights(path: Path, payload) -> Path:
    """A real YOLO checkpoint that also carries ``payload`` in its pickle."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolo11n.yaml", nc=1, verbose=False)
    torch.save({"model": model.half(), "optimizer": None, "train_args": {}, "extra": payload}, path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def evil_bundle(untrained_bundle, tmp_path, marker):
    weights = write_payload_weights(tmp_path / "evil.pt", _Exec(marker))
    return write_bundle(tmp_path / "evil", weights, _card_of(untrained_bundle))


def _card_of(bundle) -> dict:
    return {k: v for k, v in bundle.card.items() if k != "weights"}


def _assert_one_line(err: pytest.ExceptionInfo, path) -> None:
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)), message


def test_payload_fixture_runs_under_a_plain_torch_load(tmp_path, marker):
    import torch

    torch.load(write_payload_weights(tmp_path / "w.pt", _Exec(marker)), weights_only=False)
    assert marker.read_text() == "ran"  # so the tests below prove something


@pytest.mark.parametrize("kind", PAYLOADS)
def test_pickle_payload_is_refused_not_run(tmp_path, marker, kind):
    weights = write_payload_weights(tmp_path / "weights.pt", PAYLOADS[kind](marker))
    for load in (load_checkpoint, load_model):
        with pytest.raises(ModelError, match="refused: the file asks to run") as err:
            load(weights)
        _assert_one_line(err, weights)
    assert not marker.exists()


def test_ultralytics_own_loads_refuse_a_payload_once_enabled(tmp_path, marker):
    """What training resume and validation go through: Ultralytics' own loader."""
    from ultralytics import YOLO

    weights = write_payload_weights(tmp_path / "weights.pt", _Exec(marker))
    enable_safe_loading()
    with pytest.raises(TypeError, match="outside the supported Ultralytics checkpoint format"):
        YOLO(str(weights), task="detect")
    assert not marker.exists()


def test_bundle_predictor_refuses_a_payload(evil_bundle, marker):
    bundle = load_bundle(evil_bundle.path)  # the card's sha256 matches: it proves nothing
    with pytest.raises(ModelError, match=r"refused: the file asks to run (builtins\.)?exec") as err:
        bundle.predictor("cpu")
    _assert_one_line(err, bundle.weights_path)
    with pytest.raises(ModelError, match="refused"):
        YoloPredictor(str(bundle.weights_path), conf=0.5, device="cpu")
    assert not marker.exists()


def test_detect_cli_refuses_a_payload_in_one_line(evil_bundle, marker, tmp_path):
    from tests.detect.marks import make_marked_raster

    ortho = make_marked_raster(tmp_path / "m1.tif", (200, 200), [(40, 40, 90, 80)])
    result = CliRunner().invoke(cli, ["detect", str(ortho), "--out", str(tmp_path / "out"),
                                      "--model", str(evil_bundle.path), "--device", "cpu"])
    assert result.exit_code != 0 and "refused" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not marker.exists()


def test_bundled_and_untrained_weights_still_load(untrained_bundle):
    demo = load_bundle()
    model = load_model(demo.weights_path)
    assert model.names == {0: "poppy"} and not model.training
    boxes = untrained_bundle.predictor("cpu", conf=0.001)(np.zeros((1, 128, 128, 3), "uint8"))
    assert len(boxes) == 1 and boxes[0].shape[1] == 6


def test_not_a_checkpoint_is_one_line(tmp_path):
    for name, data in (("junk.pt", b"hello"), ("empty.pt", b""), ("image.pt", b"\x89PNG\r\n")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelError, match="not a loadable Ultralytics checkpoint") as err:
            load_model(path)
        _assert_one_line(err, path)
    with pytest.raises(ModelError, match="weights file not found"):
        load_model(tmp_path / "missing.pt")


def test_card_weights_must_stay_in_the_bundle_folder(untrained_bundle, tmp_path):
    outside = tmp_path / "x.pt"
    outside.write_bytes(untrained_bundle.weights_path.read_bytes())
    bundle_dir = tmp_path / "a" / "b"
    bundle_dir.mkdir(parents=True)
    for file in ("../../x.pt", str(outside)):
        card = {**untrained_bundle.card, "weights": {"file": file}}
        (bundle_dir / "card.yaml").write_text(yaml.safe_dump(card))
        with pytest.raises(ModelError, match="lies outside the bundle folder") as err:
            load_bundle(bundle_dir, verify=False)
        _assert_one_line(err, bundle_dir / "card.yaml")
    (bundle_dir / "link.pt").symlink_to(outside)
    card = {**untrained_bundle.card, "weights": {"file": "link.pt"}}
    (bundle_dir / "card.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(ModelError, match="outside the bundle folder"):
        load_bundle(bundle_dir, verify=False)


@pytest.mark.parametrize("change, message", [
    ({"tile_px": "abc"}, "tile_px='abc' must be a whole number"),
    ({"tile_px": 640.5}, "tile_px=640.5 must be a whole number"),
    ({"overlap_px": None}, "overlap_px=None must be a whole number"),
    ({"gsd_m": "5cm"}, "gsd_m='5cm' must be a number"),
    ({"gsd_m": float("nan")}, "outside 0.005-1.0 m"),
    ({"thresholds": 3}, "thresholds=3 must be a mapping"),
    ({"thresholds": {"conf": "high"}}, "thresholds.conf='high' must be in"),
    ({"thresholds": {"conf": True}}, "thresholds.conf=True must be in"),
    ({"thresholds": {"conf": 0.3, "iou_nms": "x"}}, "thresholds.iou_nms='x'"),
    ({"thresholds": {"conf": 0.3, "merge_rule": ["union"]}}, "merge_rule: merge rule \\['union'\\]"),
    ({"classes": "poppy"}, "classes must be a non-empty list"),
    ({"classes": [1]}, "classes must be a non-empty list"),
    ({"weights": "weights.pt"}, "must be a mapping with file"),
    ({"weights": {"file": ["weights.pt"]}}, "must be a mapping with file"),
    ({"tile_px": 0}, "positive multiple of 32"),
])
def test_card_with_wrong_types_is_one_clear_line(untrained_bundle, tmp_path, change, message):
    card = {**untrained_bundle.card, **change}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card))
    (tmp_path / "weights.pt").write_bytes(untrained_bundle.weights_path.read_bytes())
    with pytest.raises(ModelError, match=message) as err:
        load_bundle(tmp_path)
    _assert_one_line(err, tmp_path / "card.yaml")
