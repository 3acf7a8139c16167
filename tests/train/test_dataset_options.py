"""Dataset options as one checked value: what build_dataset, the API and the CLI share."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles import GridSpec
from poppyscan.train.dataset import build_dataset
from poppyscan.train.dataset_options import (
    IMAGE_FORMATS,
    LABEL_FORMATS,
    SPLIT_MODES,
    DatasetOptions,
)
from poppyscan.train.labels import read_labels
from tests.train.loop import GRID


@pytest.mark.parametrize(("settings", "message"), [
    ({"split": "random"}, "split='random': use one of block, ortho"),
    ({"grid": GridSpec(0.1, 100, 0)}, "tile_px=100 must be a multiple of 32"),
    ({"grid": (0.1, 640, 0)}, "must be a GridSpec"),
    ({"val_frac": 0.0}, r"val_frac=0.0 must be in \(0, 1\)"),
    ({"val_frac": 0.5, "test_frac": 0.5}, "must be below 1"),
    ({"image_format": "tif"}, "image_format='tif': use one of png, jpg"),
    ({"jpeg_quality": 0}, r"jpeg_quality=0 must be in \[1, 100\]"),
    ({"min_visible_frac": 0}, "min_visible_frac=0"),
    ({"negative_ratio": -1}, "negative_ratio=-1"),
    ({"split": "ortho", "block_m": 50.0}, "block_m=50.0 applies only to split='block'"),
    ({"label_format": "shp"}, "label_format='shp': use one of auto, ogr"),
    ({"workers": 0}, "workers=0 must be at least 1"),
])
def test_each_bad_option_is_one_line_naming_it(settings, message):
    with pytest.raises(ConfigError, match=message):
        DatasetOptions(**{"grid": GRID, **settings})


def test_options_are_frozen_and_own_their_sequences():
    names, class_map = ["poppy"], {"Poppy": "poppy"}
    options = DatasetOptions(GRID, class_names=names, class_map=class_map, bands=[1, 2, 3])
    names.append("tree")
    class_map["Tree"] = "tree"
    assert options.class_names == ("poppy",) and dict(options.class_map) == {"Poppy": "poppy"}
    assert options.bands == (1, 2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 3  # type: ignore[misc]
    assert dataclasses.replace(options, seed=3).seed == 3


def test_from_settings_names_unknown_keys_and_a_missing_grid():
    with pytest.raises(ConfigError, match=r"unknown dataset settings \['splt'\]; valid: grid"):
        DatasetOptions.from_settings({"grid": GRID, "splt": "ortho"})
    with pytest.raises(ConfigError, match="no grid given"):
        DatasetOptions.from_settings({"split": "ortho"})


def test_defaults_come_from_the_dataset_config():
    from poppyscan.config import defaults

    options, config = DatasetOptions(GRID), defaults("dataset")
    assert {k: getattr(options, k) for k in config} == config


def test_options_are_checked_up_front(tmp_path, real_dir):
    ortho, csv = real_dir / "OSBS_029.tif", real_dir / "OSBS_029.csv"
    with pytest.raises(ConfigError, match="block, ortho"):
        build_dataset([ortho], csv, tmp_path / "a", grid=GRID, split="random")
    with pytest.raises(ConfigError, match="multiple of 32"):
        build_dataset([ortho], csv, tmp_path / "a", grid=GridSpec(0.1, 100, 0))
    with pytest.raises(ConfigError, match="chip plus its overlap"):
        build_dataset([ortho], csv, tmp_path / "a", grid=GRID, block_m=10.0)
    with pytest.raises(ConfigError, match="unknown dataset settings"):
        build_dataset([ortho], csv, tmp_path / "a", grid=GRID, negatives=0.5)
    with pytest.raises(ConfigError, match="not both"):
        build_dataset([ortho], csv, tmp_path / "a", DatasetOptions(GRID), seed=2)
    with pytest.raises(LabelError, match=r"\['Tree'\] are not in the class names"):
        build_dataset([ortho], csv, tmp_path / "a", grid=GRID, class_names=["poppy"])
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").glob("*.yaml"))
    build_dataset([ortho], csv, tmp_path / "b", grid=GRID)
    with pytest.raises(ConfigError, match="overwrite"):
        build_dataset([ortho], csv, tmp_path / "b", grid=GRID)
    summary = build_dataset([ortho], csv, tmp_path / "b", grid=GRID, overwrite=True,
                            image_format="jpg")
    assert len(list((tmp_path / "b" / "images").rglob("*.png"))) == 0
    assert len(list((tmp_path / "b" / "images").rglob("*.jpg"))) == sum(
        s["images"] for s in summary.splits.values())


def test_a_value_and_its_keywords_build_the_same_dataset(tmp_path, real_dir):
    ortho, csv = real_dir / "OSBS_029.tif", real_dir / "OSBS_029.csv"
    settings = {"grid": GRID, "class_map": {"Tree": "tree"}, "negative_ratio": 0.5, "seed": 3}
    by_keywords = build_dataset([ortho], csv, tmp_path / "k", **settings)
    by_value = build_dataset([ortho], read_labels(csv), tmp_path / "v", DatasetOptions(**settings))
    assert by_value.splits == by_keywords.splits and by_value.counts == by_keywords.counts
    assert by_value.options == by_keywords.options
    files = {p.relative_to(tmp_path / "k") for p in (tmp_path / "k" / "labels").rglob("*.txt")}
    assert files and all((tmp_path / "k" / f).read_bytes() == (tmp_path / "v" / f).read_bytes()
                         for f in files)


def test_the_command_line_offers_the_library_choices():
    from poppyscan.cli.dataset import build

    choices = {p.name: tuple(p.type.choices) for p in build.params
               if hasattr(p.type, "choices")}
    assert choices["label_format"] == LABEL_FORMATS
    assert choices["split"] == SPLIT_MODES
    assert choices["image_format"] == tuple(IMAGE_FORMATS)
    out = CliRunner().invoke(build, ["--help"])
    assert out.exit_code == 0 and "[png|jpg]" in out.output
