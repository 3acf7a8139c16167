"""The demo model's recipe (``configs/train/demo_recipe.yaml``) as checked, frozen values.

Survey plans, seeds, the real tiles trained on and the datasets cut from them, for
``scripts/train_demo_model.py``. Every problem in the file is one ConfigError naming the key.

>>> recipe = load_recipe()
>>> recipe.survey_sets["heldout_surveys"].seeds()[:2], len(recipe.survey_sets["heldout_surveys"].plan)
((900, 901), 12)
>>> recipe.datasets["dataset-10cm"].grid
GridSpec(gsd_m=0.1, tile_px=320, overlap_px=64)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from poppyscan.config import read_yaml_settings
from poppyscan.errors import ConfigError
from poppyscan.tiles.grid import GridSpec

__all__ = ["DatasetRecipe", "DemoRecipe", "RealHost", "SurveySet", "load_recipe"]

BUILTIN = "train/demo_recipe.yaml"


@dataclass(frozen=True)
class SurveySet:
    """A set of synthetic surveys: seeds from ``seed0``, one (gsd_m, size_px) per survey."""

    name: str
    seed0: int
    plan: tuple[tuple[float, int], ...]
    distractors_per_ha: float

    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed0, self.seed0 + len(self.plan)))

    def seed_range(self) -> str:
        """``"900-911"``: the seeds, for a card."""
        return f"{self.seed0}-{self.seed0 + len(self.plan) - 1}"


@dataclass(frozen=True)
class RealHost:
    """A real poppy-free tile trained on: ``seeds`` composites with plots sown in."""

    name: str
    seeds: int
    plots_per_ha: float


@dataclass(frozen=True)
class DatasetRecipe:
    """One dataset folder: its chip grid, hard-negative globs and the surveys it is cut from."""

    name: str
    grid: GridSpec
    hard_negatives: tuple[str, ...]
    survey_sets: tuple[str, ...]
    real: bool


@dataclass(frozen=True)
class DemoRecipe:
    """The whole recipe; see ``configs/train/demo_recipe.yaml`` for what each part means."""

    survey_sets: dict[str, SurveySet]
    plot_density_per_ha: float
    real_train: dict[str, RealHost]
    real_held_out: tuple[str, ...]
    composite_seed0: int
    copy_shift_m: float
    datasets: dict[str, DatasetRecipe]
    dataset_settings: dict[str, Any]
    card_extras: dict[str, Any]
    not_compared: str


def load_recipe(path: str | os.PathLike | None = None) -> DemoRecipe:
    """The built-in recipe, or the YAML file ``path`` written the same way."""
    where = str(path) if path else f"configs/{BUILTIN}"
    raw = read_yaml_settings(Path(path)) if path else _builtin()
    try:
        return _recipe(raw)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: malformed recipe ({type(err).__name__}: {err})") from None


def _builtin() -> dict:
    # Not poppyscan.config.defaults: its deep copy sorts keys, and the order of survey sets
    # (the `surveys` stage's default is the first three) and datasets is part of the recipe.
    ref = resources.files("poppyscan.configs").joinpath(*BUILTIN.split("/"))
    return yaml.safe_load(ref.read_text(encoding="utf-8"))


def _recipe(raw: dict) -> DemoRecipe:
    default_distractors = _number(raw, "distractors_per_ha")
    sets = {name: _survey_set(name, spec, default_distractors)
            for name, spec in _mapping(raw, "survey_sets").items()}
    real = {name: RealHost(name, int(spec["seeds"]), float(spec["plots_per_ha"]))
            for name, spec in _mapping(raw, "real_train").items()}
    datasets = {name: _dataset(name, spec, sets) for name, spec in _mapping(raw, "datasets").items()}
    return DemoRecipe(
        survey_sets=sets, plot_density_per_ha=_number(raw, "plot_density_per_ha"),
        real_train=real, real_held_out=tuple(raw["real_held_out"]),
        composite_seed0=int(raw["composite_seed0"]), copy_shift_m=_number(raw, "copy_shift_m"),
        datasets=datasets, dataset_settings=dict(_mapping(raw, "dataset_settings")),
        card_extras=dict(_mapping(raw, "card_extras")), not_compared=str(raw["not_compared"]))


def _survey_set(name: str, spec: dict, default_distractors: float) -> SurveySet:
    plan = []
    for run in spec["plan"]:
        gsd_m, size_px, count = run
        if not (0 < float(gsd_m) <= 1 and int(size_px) > 0 and int(count) > 0):
            raise ConfigError(f"survey_sets.{name}.plan: {run!r} must be [gsd_m, size_px, surveys]")
        plan += [(float(gsd_m), int(size_px))] * int(count)
    distractors = float(spec.get("distractors_per_ha", default_distractors))
    return SurveySet(name, int(spec["seed0"]), tuple(plan), distractors)


def _dataset(name: str, spec: dict, sets: dict[str, SurveySet]) -> DatasetRecipe:
    survey_sets = tuple(spec.get("survey_sets", ["train_surveys"]))
    unknown = [s for s in survey_sets if s not in sets]
    if unknown:
        raise ConfigError(f"datasets.{name}.survey_sets: unknown {unknown}; "
                          f"valid: {', '.join(sets)}")
    gsd_m, tile_px, overlap_px = spec["grid"]
    grid = GridSpec(float(gsd_m), int(tile_px), int(overlap_px))
    return DatasetRecipe(name, grid, tuple(spec.get("hard_negatives", ())), survey_sets,
                         bool(spec.get("real", False)))


def _mapping(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{key}: expected a non-empty mapping, got {value!r}")
    return value


def _number(raw: dict, key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}={value!r} must be a positive number")
    return float(value)
