"""Inference backends: parity with PyTorch, NMS semantics, backend choice, export."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from ultralytics.utils.nms import non_max_suppression as ultralytics_nms

from poppyscan.cli.main import cli
from poppyscan.detect import backends
from poppyscan.detect.backends import (
    choose_backend,
    export_bundle,
    make_predictor,
    openvino_predictor,
)
from poppyscan.detect.backends.postprocess import non_max_suppression
from poppyscan.detect.bundle import load_bundle
from poppyscan.detect.pipeline import run_detection
from poppyscan.errors import ConfigError, ModelError
from poppyscan.synth.survey import generate_survey
from poppyscan.tiles import iter_chips

FAST = ["openvino", "onnxruntime"]


def _needs(runtime: str) -> None:
    pytest.importorskip(runtime, reason=f"{runtime} not installed (pip install 'poppyscan[cpu]')")


@pytest.fixture(scope="module")
def demo():
    return load_bundle()


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """1536 px at 5 cm, dense in plots and look-alikes: 9 chips, a dozen targets."""
    return generate_survey(tmp_path_factory.mktemp("survey"), seed=901, size_px=(1536, 1536),
                           plot_density_per_ha=25, distractor_density_per_ha=20).ortho_path


@pytest.fixture(scope="module")
def chips(demo, survey):
    return np.stack([chip.pixels for chip in iter_chips([survey], demo.grid)])


@pytest.fixture(scope="module")
def torch_boxes(demo, chips):
    return demo.predictor("cpu", backend="torch")(chips)


def _plots(bundle, survey, predictor):
    """One merged cluster per suspected plot (the targets before ranking), in metres."""
    return run_detection([survey], predictor, bundle.grid).clusters


@pytest.fixture(scope="module")
def torch_plots(demo, survey):
    return _plots(demo, survey, demo.predictor("cpu", backend="torch"))


def _gap(ours: np.ndarray, theirs: np.ndarray, columns: slice = slice(0, 4)) -> float:
    """Largest distance from a box of either set to its nearest box in the other (per column)."""
    if not len(ours) or not len(theirs):
        return 0.0 if len(ours) == len(theirs) else np.inf
    gap = np.abs(ours[None, :, columns] - theirs[:, None, columns]).max(axis=2)
    return float(max(gap.min(axis=0).max(), gap.min(axis=1).max()))


@pytest.mark.parametrize("backend", FAST)
def test_backend_boxes_match_torch_on_every_chip(demo, chips, torch_boxes, backend):
    _needs(backend)
    reference = torch_boxes
    predictor = demo.predictor("cpu", backend=backend, precision="f32")  # bf16: held-out check
    assert predictor.backend == backend
    got = [boxes for start in range(0, len(chips), 4) for boxes in predictor(chips[start:start + 4])]
    assert [len(b) for b in got] == [len(b) for b in reference]
    assert sum(len(b) for b in got) >= 10
    for ours, theirs in zip(got, reference, strict=True):
        assert _gap(ours, theirs) < 1.0  # pixels
        assert _gap(ours, theirs, slice(0, 6)) < 1.0  # the same box has the same class
        assert _gap(ours, theirs, slice(4, 5)) < 0.01  # confidence


@pytest.mark.parametrize("backend", FAST)
def test_backend_gives_the_same_targets_as_torch(demo, survey, torch_plots, backend):
    _needs(backend)
    plots = _plots(demo, survey, demo.predictor("cpu", backend=backend, precision="f32"))
    assert len(plots) == len(torch_plots) >= 5
    for theirs in torch_plots:
        ours = min(plots, key=lambda p: p.polygon.centroid.distance(theirs.polygon.centroid))
        assert ours.polygon.hausdorff_distance(theirs.polygon) < demo.grid.gsd_m  # 1 px
        assert len(ours.members) == len(theirs.members)


def test_cpu_detection_with_a_fast_backend_never_imports_torch(survey):
    _needs("openvino")
    code = (
        "import sys\n"
        "from poppyscan.detect.bundle import load_bundle\n"
        "from poppyscan.detect.pipeline import run_detection\n"
        "bundle = load_bundle()\n"
        "predictor = bundle.predictor('cpu')\n"
        f"result = run_detection([{str(survey)!r}], predictor, bundle.grid)\n"
        "print(predictor.backend, len(result.clusters) > 0,"
        " [m for m in ('torch', 'ultralytics') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["openvino", "True", "[]"]


def _raw_head(rng, n_chips=3, anchors=600, classes=3, size=640):
    """A YOLO head output (B, 4 + classes, anchors) with clumps of overlapping boxes."""
    centres = rng.uniform(0, size, (n_chips, 2, 12)).repeat(anchors // 12, axis=2)
    xy = centres + rng.normal(0, 6, centres.shape)
    wh = rng.uniform(10, 90, (n_chips, 2, anchors))
    scores = rng.uniform(0, 1, (n_chips, classes, anchors)) ** 3
    return np.concatenate([xy, wh, scores], axis=1).astype("float32")


@pytest.mark.parametrize("conf, iou, max_det", [(0.25, 0.5, 300), (0.05, 0.7, 300), (0.1, 0.3, 7)])
def test_numpy_nms_matches_ultralytics(conf, iou, max_det):
    raw = _raw_head(np.random.default_rng(3))
    ours = non_max_suppression(raw, conf=conf, iou=iou, max_det=max_det, height=640, width=640)
    theirs = ultralytics_nms(torch.from_numpy(raw), conf, iou, max_det=max_det)
    for mine, ref in zip(ours, theirs, strict=True):
        ref = ref.numpy()
        ref[:, [0, 2]], ref[:, [1, 3]] = ref[:, [0, 2]].clip(0, 640), ref[:, [1, 3]].clip(0, 640)
        assert len(mine) == len(ref) > 0 and len(mine) <= max_det
        np.testing.assert_allclose(mine, ref, atol=1e-4)


def test_nms_clamps_boxes_to_the_chip_and_drops_low_scores():
    raw = np.zeros((1, 5, 3), dtype="float32")
    raw[0, :, 0] = [5, 60, 30, 40, 0.9]  # reaches past the left edge
    raw[0, :, 1] = [120, 120, 20, 20, 0.5]  # exactly at conf: dropped (strict >)
    raw[0, :, 2] = [60, 60, 10, 10, 0.7]
    out = non_max_suppression(raw, conf=0.5, iou=0.5, max_det=300, height=128, width=128)[0]
    np.testing.assert_allclose(out, [[0, 40, 20, 80, 0.9, 0], [55, 55, 65, 65, 0.7, 0]])


def test_auto_picks_the_fastest_exported_runtime_on_cpu(demo):
    _needs("openvino")
    assert choose_backend("auto", "cpu", demo) == "openvino"
    assert make_predictor(demo, device="cpu", conf=0.5, iou=0.5).backend == "openvino"


def test_auto_runs_torch_on_cuda(demo, monkeypatch):
    monkeypatch.setattr(backends, "resolve_device", lambda device: "cuda:0")
    assert choose_backend("auto", "cuda", demo) == "torch"
    with pytest.raises(ConfigError, match="CPU only"):
        choose_backend("openvino", "cuda", demo)


def test_unknown_backend_lists_the_choices(demo):
    with pytest.raises(ConfigError, match="auto, torch, openvino, onnxruntime"):
        choose_backend("tflite", "cpu", demo)


def _checked(card, bf16_conf=0.3, recall_drop=0.0):
    """What ``train_demo_model.py precision`` writes: verdict, bf16 threshold, both rows."""
    f32 = {"recall_ge20": 0.9, "precision_ge20": 0.83, "recall": 0.85, "precision": 0.87}
    card["exports"]["openvino"].update(
        precision="bf16", thresholds={"bf16": {"conf": bf16_conf}},
        precision_check={"f32": f32, "bf16": {**f32, "recall": 0.85 - recall_drop}})


def test_precision_auto_is_the_cards_checked_one(exported, tmp_path, monkeypatch):
    unchecked = exported.predictor("cpu", backend="openvino")
    assert unchecked.precision == "f32" and unchecked.conf == exported.conf
    checked = _copy_with_card(exported, tmp_path / "bundle", _checked)
    has_bf16 = openvino_predictor.cpu_has_bf16()
    auto = checked.predictor("cpu", backend="openvino")
    assert auto.precision == ("bf16" if has_bf16 else "f32")
    assert auto.conf == (0.3 if has_bf16 else exported.conf)  # each precision its own threshold
    monkeypatch.setattr(openvino_predictor, "cpu_has_bf16", lambda: False)
    emulated = checked.predictor("cpu", backend="openvino")
    assert (emulated.precision, emulated.conf) == ("f32", exported.conf)  # never emulated
    assert "no bfloat16 instructions" in emulated.fallback
    monkeypatch.undo()
    assert checked.predictor("cpu", backend="openvino", precision="f32").conf == exported.conf
    assert checked.predictor("cpu", backend="openvino", precision="bf16").conf == 0.3
    assert checked.predictor("cpu", backend="openvino", precision="bf16", conf=0.2).conf == 0.2
    with pytest.raises(ConfigError, match="openvino backend only"):
        checked.predictor("cpu", backend="torch", precision="bf16")


def test_bf16_that_lost_more_than_001_runs_f32(exported, tmp_path, monkeypatch):
    monkeypatch.setattr(openvino_predictor, "cpu_has_bf16", lambda: True)
    held = _copy_with_card(exported, tmp_path / "held", lambda c: _checked(c, recall_drop=0.01))
    assert held.predictor("cpu", backend="openvino").precision == "bf16"
    lost = _copy_with_card(exported, tmp_path / "lost", lambda c: _checked(c, recall_drop=0.0101))
    predictor = lost.predictor("cpu", backend="openvino")
    assert (predictor.precision, predictor.conf) == ("f32", exported.conf)
    assert "no bf16 threshold that held within 0.01" in predictor.fallback

    def no_threshold(card):  # a verdict without its own threshold is not evidence enough
        _checked(card)
        card["exports"]["openvino"].pop("thresholds")

    assert _copy_with_card(exported, tmp_path / "t", no_threshold).predictor(
        "cpu", backend="openvino").precision == "f32"


def test_bad_precision_threshold_is_one_line(exported, tmp_path):
    with pytest.raises(ModelError, match=r"exports.openvino.thresholds.bf16.conf=1.5 must be in"):
        _copy_with_card(exported, tmp_path / "b", lambda c: _checked(c, bf16_conf=1.5))


def test_fallback_says_why_a_slower_backend_ran(exported, monkeypatch):
    assert exported.predictor("cpu", backend="auto", precision="f32").fallback is None
    real = backends._installed
    monkeypatch.setattr(backends, "_installed", lambda b: b != "openvino" and real(b))
    predictor = exported.predictor("cpu", backend="auto")
    assert predictor.backend == "onnxruntime"
    assert predictor.fallback == "ONNX Runtime, a slower backend: openvino is not installed"
    monkeypatch.setattr(backends, "_installed", lambda b: False)
    assert exported.predictor("cpu", backend="auto").fallback == (
        "PyTorch, a slower backend: openvino is not installed, onnxruntime is not installed")
    assert exported.predictor("cpu", backend="torch").fallback is None  # asked for


def test_compiled_network_is_cached_per_bundle_and_cpu(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("POPPYSCAN_CACHE", str(tmp_path / "cache"))
    images = np.zeros((1, 128, 128, 3), dtype="uint8")
    first = exported.predictor("cpu", backend="openvino", precision="f32")(images)
    blobs = list((tmp_path / "cache" / "openvino").glob("*/CPU-*/*.blob"))
    assert len(blobs) == 1
    assert blobs[0].parts[-3].startswith(exported.card["weights"]["sha256"][:16])
    again = exported.predictor("cpu", backend="openvino", precision="f32")(images)  # from the cache
    assert list((tmp_path / "cache" / "openvino").glob("*/CPU-*/*.blob")) == blobs
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


@pytest.fixture(scope="module")
def exported(untrained_bundle, tmp_path_factory):
    """A copy of the 128 px untrained bundle, exported to ONNX and OpenVINO."""
    _needs("openvino")
    _needs("onnxruntime")
    folder = tmp_path_factory.mktemp("exported") / "bundle"
    shutil.copytree(untrained_bundle.path, folder)
    return export_bundle(folder)


def test_export_records_files_and_keeps_the_weights(exported, untrained_bundle):
    card = exported.card
    assert card["weights"] == untrained_bundle.card["weights"]
    assert set(card["exports"]) == {"onnx", "openvino"}
    for entry in card["exports"].values():
        assert entry["source_sha256"] == card["weights"]["sha256"]
        assert (exported.path / entry["file"]).is_file() and len(entry["sha256"]) == 64
    assert (exported.path / card["exports"]["openvino"]["data_file"]).is_file()
    assert not list(exported.path.glob(".export-*"))


@pytest.mark.parametrize("backend", FAST)
def test_exported_network_matches_torch_at_its_own_chip_size(exported, backend):
    images = np.random.default_rng(0).integers(0, 255, (3, 128, 128, 3), dtype="uint8")
    reference = exported.predictor("cpu", conf=0.005, backend="torch")(images)
    got = exported.predictor("cpu", conf=0.005, backend=backend)(images)
    assert sum(len(b) for b in reference) > 0
    for ours, theirs in zip(got, reference, strict=True):
        assert len(ours) == len(theirs)
        assert _gap(ours, theirs, slice(0, 5)) < 0.5


def _copy_with_card(bundle, folder, change):
    shutil.copytree(bundle.path, folder)
    card = yaml.safe_load((folder / "card.yaml").read_text())
    change(card)
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return load_bundle(folder)


def test_stale_export_is_never_used(exported, tmp_path):
    def stale(card):
        for entry in card["exports"].values():
            entry["source_sha256"] = "0" * 64

    bundle = _copy_with_card(exported, tmp_path / "b", stale)
    assert choose_backend("auto", "cpu", bundle) == "torch"
    with pytest.raises(ModelError, match="no current export for onnxruntime"):
        choose_backend("onnxruntime", "cpu", bundle)


def test_openvino_runs_the_onnx_export_when_there_is_no_ir(exported, tmp_path):
    bundle = _copy_with_card(exported, tmp_path / "b", lambda card: card["exports"].pop("openvino"))
    assert backends.export_file(bundle, "openvino").name == "weights.onnx"
    assert choose_backend("auto", "cpu", bundle) == "openvino"


def test_corrupt_export_is_a_clear_error(exported, tmp_path):
    bundle = _copy_with_card(exported, tmp_path / "b", lambda card: None)
    (bundle.path / "weights.bin").write_bytes(b"not the network")
    with pytest.raises(ModelError, match=r"weights.bin: sha256 does not match the card"):
        bundle.predictor("cpu", backend="openvino")


@pytest.mark.parametrize("flag", [[], ["--backend", "torch"]])
def test_detect_records_the_backend_that_ran(demo, survey, tmp_path, flag):
    if flag:
        expected = ["torch", "f32"]
    else:  # auto: OpenVINO, at the precision the bundled model's held-out check chose
        _needs("openvino")
        from poppyscan.detect.backends.precision import bf16_holds

        checked = "bf16" if bf16_holds(demo.card["exports"]["openvino"]) else "f32"
        expected = ["openvino", checked if openvino_predictor.cpu_has_bf16() else "f32"]
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["detect", str(survey), "--out", str(out), "--device", "cpu", *flag])
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert [settings["backend"], settings["precision"]] == expected
    assert f"ran on {expected[0]} {expected[1]} (cpu)" in result.output
