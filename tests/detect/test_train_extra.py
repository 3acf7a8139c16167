"""Without the train extra (PyTorch, Ultralytics): one line naming it, and the CPU runtimes."""

import importlib.util

import pytest

from poppyscan.detect import _ultralytics, predictor
from poppyscan.errors import ConfigError


@pytest.fixture
def no_torch(monkeypatch):
    """As in a base install: torch and ultralytics cannot be found."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "ultralytics") else real(name, *a))


def test_what_needs_torch_names_the_extra(no_torch):
    with pytest.raises(ConfigError) as err:
        _ultralytics.configure_offline("training")
    assert str(err.value) == ("training needs torch and ultralytics, which the base install "
                              "leaves out: pip install 'poppyscan[train]'")


def test_auto_device_is_the_cpu_without_torch(no_torch, monkeypatch):
    monkeypatch.setattr(predictor, "_nvidia_gpu_may_exist", lambda: True)
    assert predictor.resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match=r"CUDA needs torch and ultralytics.*poppyscan\[train\]"):
        predictor.resolve_device("cuda")


def test_with_the_extra_nothing_is_refused():
    pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    _ultralytics.require_train_extra("training")
