"""Negative-only sources: real poppy-free orthomosaics whose every non-collar chip is background."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from poppyscan.errors import ConfigError
from poppyscan.tiles import ChipStats, inspect_raster, iter_chips, with_progress
from poppyscan.train.dataset.plan import chip_tags

__all__ = ["Background", "negative_sources", "read_negative_sources"]


class Background(NamedTuple):
    """Where a chip of a negative-only source goes: its id and split."""

    chip_id: str
    split: str
    region: None = None  # never cropped: a negative-only source lies in no split block


def negative_sources(paths, infos, bands) -> list:
    """The negative-only orthomosaics, checked: none may also be a labelled source."""
    labelled = {Path(info.path).resolve() for info in infos}
    both = [str(p) for p in paths if Path(p).resolve() in labelled]
    if both:
        raise ConfigError(f"{both[0]}: given both as a labelled orthomosaic and as a negative-only "
                          "source (negatives_from); pass it once")
    return [inspect_raster(path, bands=bands) for path in paths]


def read_negative_sources(infos, grid, counts, write, *, min_valid_frac, workers,
                          on_chips) -> None:
    """Write every non-collar chip of the poppy-free ``infos`` as a background chip (train)."""
    if not infos:
        return
    tag_of = {info.path: f"neg-{tag}" for info, tag in zip(infos, chip_tags(infos), strict=True)}
    stats = ChipStats()
    chips = iter_chips(infos, grid, min_valid_frac=min_valid_frac, workers=workers, stats=stats)
    for chip in with_progress(chips, stats, on_chips):
        chip_id = f"{tag_of[chip.source]}_r{chip.row:04d}_c{chip.col:04d}"
        write(chip, Background(chip_id, "train"), np.zeros((0, 5)), 0)
        counts["negatives_from_chips"] += 1
    counts["negatives_from_collar_chips"] = stats.skipped_collar
