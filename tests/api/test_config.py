"""The layered settings: built-in defaults (installed with the package), a user's file, flags."""

import pytest

from poppyscan.config import defaults, load_config
from poppyscan.errors import ConfigError
from poppyscan.tiles import GridSpec
from poppyscan.train.training import TRAIN_DEFAULTS


def test_builtin_layer_ships_in_the_package():
    tiling = defaults("tiling")
    assert (tiling["gsd_m"], tiling["tile_px"], tiling["overlap_px"]) == (0.05, 640, 128)
    assert GridSpec.from_settings(tiling) == GridSpec(0.05, 640, 128)
    assert TRAIN_DEFAULTS == defaults("train/default")


def test_file_then_overrides_win(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("tile_px: 320\noverlap_px: 64\n")
    config = load_config("tiling", user, overlap_px=32, workers=None)
    assert (config["gsd_m"], config["tile_px"], config["overlap_px"], config["workers"]) == (
        0.05, 320, 32, 4)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    user = tmp_path / "typo.yaml"
    user.write_text("tile_pxx: 320\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown keys \['tile_pxx'\]"):
        load_config("tiling", user)


def test_presets_layer_on_the_neutral_training_default():
    demo = load_config("train/default", "demo")
    assert demo["name"] == "poppy-demo" and "synthetic" in demo["notice"]
    neutral = load_config("train/default")
    assert neutral["name"] is None and neutral["notice"] is None
    with pytest.raises(ConfigError, match="no such config file or built-in preset"):
        load_config("train/default", "nonesuch")


def test_defaults_are_copies():
    defaults("tiling")["tile_px"] = 1
    assert defaults("tiling")["tile_px"] == 640
