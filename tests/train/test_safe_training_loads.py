"""Training reads checkpoints (resume, fine-tune, card) without running code from their pickle."""

from __future__ import annotations

import shutil

import pytest

from poppyscan.detect.bundle import load_bundle
from poppyscan.errors import ModelError
from poppyscan.train.dataset import build_dataset
from poppyscan.train.model_card import _yaml_of_weights
from poppyscan.train.training import _base_model, _run_state, train_model
from tests.detect.test_safe_load import _Exec, write_payload_weights
from tests.train.loop import GRID, block_network, tiny_config


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "payload-ran"


@pytest.fixture
def evil_pt(tmp_path, marker):
    return write_payload_weights(tmp_path / "evil.pt", _Exec(marker))


def test_run_state_and_card_readers_refuse_a_payload(evil_pt, marker, tmp_path):
    from ultralytics import YOLO

    weights = tmp_path / "run" / "weights"
    weights.mkdir(parents=True)
    shutil.copy(evil_pt, weights / "last.pt")
    with pytest.raises(ModelError, match="last.pt: refused"):
        _run_state(weights / "last.pt")
    # A clean last.pt beside a poisoned best.pt: Ultralytics' final step would torch.load it.
    shutil.copy(load_bundle().weights_path, weights / "last.pt")
    shutil.copy(evil_pt, weights / "best.pt")
    with pytest.raises(ModelError, match="best.pt: refused"):
        _run_state(weights / "last.pt")
    with pytest.raises(ModelError, match="evil.pt: refused"):
        _yaml_of_weights(evil_pt)
    with pytest.raises(ModelError, match="evil.pt: refused"):
        _base_model(YOLO, str(evil_pt))
    assert not marker.exists()


def test_bundled_checkpoint_reads_as_a_finished_run(tmp_path):
    last = tmp_path / "last.pt"
    shutil.copy(load_bundle().weights_path, last)
    assert _run_state(last) == "finished"
    assert _yaml_of_weights(last) == "yolo11n.yaml"


def test_train_refuses_to_resume_from_a_poisoned_run(evil_pt, marker, tmp_path, real_dir,
                                                     monkeypatch):
    block_network(monkeypatch)
    data = tmp_path / "ds"
    build_dataset([real_dir / "OSBS_029.tif"], real_dir / "OSBS_029.csv", data, grid=GRID, seed=0)
    weights = tmp_path / "model" / "run" / "weights"
    weights.mkdir(parents=True)
    shutil.copy(evil_pt, weights / "last.pt")
    with pytest.raises(ModelError, match="refused"):
        train_model(data, tmp_path / "model", config=tiny_config())
    with pytest.raises(ModelError, match="evil.pt: refused"):
        train_model(data, tmp_path / "model2", config=tiny_config(architecture=str(evil_pt)))
    assert not marker.exists()
