"""The pretrained start: offline, restricted loading, every layer but the class logits transfers,
and a model trained from it (on every core, or the threads asked for) says so in its card."""

from __future__ import annotations

import pytest
import torch

from poppyscan.detect.cpu_threads import cpu_cores, set_torch_threads
from poppyscan.detect.safe_load import load_checkpoint
from poppyscan.errors import ConfigError, ModelError
from poppyscan.provenance import sha256_file
from poppyscan.train.dataset import build_dataset
from poppyscan.train.start import START_DIR, start_card, start_weights_path
from poppyscan.train.training import check_train_config, start_weights, train_model
from tests.train.loop import GRID, block_network, tiny_config

LOGITS = {f"model.22.cv3.{i}.2.{p}" for i in range(3) for p in ("weight", "bias")}


@pytest.fixture(scope="module")
def osbs_ds(tmp_path_factory, real_dir):
    out = tmp_path_factory.mktemp("start") / "osbs_ds"
    build_dataset([real_dir / "OSBS_029.tif"], real_dir / "OSBS_029.csv", out, grid=GRID, seed=0)
    return out


def test_start_loads_with_the_restricted_loader_and_matches_its_card(monkeypatch):
    block_network(monkeypatch)
    card = start_card()
    weights = start_weights_path()
    assert sha256_file(weights) == card["weights"]["sha256"]
    assert card["source"]["sha256"] == (
        "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f")
    assert card["source"]["package"] == "nudenet==3.4.2" and "AGPL-3.0" in card["licence"]
    assert card["built"]["onnxruntime_max_abs_diff"] < 1e-3
    model = load_checkpoint(weights)["model"]
    assert model.yaml["yaml_file"] == "yolov8n.yaml"
    assert sum(p.numel() for p in model.parameters()) > 3_000_000


def test_start_transfers_every_layer_but_the_class_logits():
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.torch_utils import intersect_dicts

    source = load_checkpoint(start_weights_path())["model"].float().state_dict()
    target = DetectionModel("yolov8n.yaml", nc=3, verbose=False).state_dict()
    moved = intersect_dicts(source, target)
    assert set(target) - set(moved) == LOGITS  # what Ultralytics' train() does on other classes
    assert len(moved) == len(target) - len(LOGITS)
    for key in ("model.0.conv.weight", "model.9.cv2.conv.weight", "model.22.cv2.0.2.weight"):
        assert torch.equal(moved[key], source[key])


def test_batch_norms_are_identity_around_the_folded_bias():
    model = load_checkpoint(start_weights_path())["model"].float()
    bn = model.model[0].bn
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
    # stored in half precision, as Ultralytics saves: identity to fp16 rounding
    assert torch.allclose(bn.running_var + bn.eps, torch.ones_like(bn.running_var), atol=1e-3)


def test_a_tampered_start_is_refused(tmp_path):
    for name in ("card.yaml", "weights.pt"):
        (tmp_path / name).write_bytes((START_DIR / name).read_bytes())
    (tmp_path / "weights.pt").write_bytes(b"x" + (START_DIR / "weights.pt").read_bytes()[1:])
    with pytest.raises(ModelError, match="not the weights its card names"):
        start_weights_path(tmp_path)
    with pytest.raises(ModelError, match="not the weights its card names"):
        start_weights(tmp_path, tmp_path / "out")


def test_threads_config_is_checked():
    assert check_train_config({})["threads"] is None
    assert check_train_config({"threads": 3})["threads"] == 3
    with pytest.raises(ConfigError, match="threads=0"):
        check_train_config({"threads": 0})
    assert check_train_config({})["architecture"] == "start"


def test_set_torch_threads_sets_what_it_says():
    before = torch.get_num_threads()
    try:
        assert set_torch_threads(1) == torch.get_num_threads() == 1
        assert set_torch_threads(None) == torch.get_num_threads() == cpu_cores()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, None])
def test_training_from_the_start_runs_on_the_threads_it_says(osbs_ds, tmp_path, monkeypatch,
                                                              threads):
    block_network(monkeypatch)
    seen = []
    bundle = train_model(osbs_ds, tmp_path / "model",
                         config=tiny_config(architecture="start", threads=threads),
                         on_epoch=lambda *_: seen.append(torch.get_num_threads()))
    want = threads or cpu_cores()
    assert seen and set(seen) == {want}  # after select_device set min(8, cores - 1)
    card = bundle.card
    assert card["architecture"] == "yolov8n" and card["training"]["torch_threads"] == want
    start = card["training"]["start"]
    assert start["name"] == "yolov8n-start" and "AGPL-3.0" in start["licence"]
    assert start["source"]["package"] == "nudenet==3.4.2"
    assert card["training"]["fine_tuned_from"]["sha256"] == start_card()["weights"]["sha256"]
    assert card["training"]["hyp"] == {"mosaic": 0.0, "warmup_epochs": 0.0}  # the recipe


def test_from_scratch_trains_yolo11n_and_excludes_from_model(osbs_ds, tmp_path, monkeypatch):
    import poppyscan.api as ps

    block_network(monkeypatch)
    with pytest.raises(ConfigError, match="exclude each other"):
        ps.train(osbs_ds, tmp_path / "m", from_model=START_DIR, from_scratch=True)
    bundle = ps.train(osbs_ds, tmp_path / "m", from_scratch=True, config=None,
                      **{k: v for k, v in tiny_config().items() if k != "architecture"})
    assert bundle.card["architecture"] == "yolo11n"
    assert "start" not in bundle.card["training"] and "fine_tuned_from" not in bundle.card["training"]
