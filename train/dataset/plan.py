"""Which chips a dataset takes and which split each goes to, from geometry alone.

Planned before any pixel is read: the chip grid of every orthomosaic (the
detection grid, see :func:`poppyscan.tiles.plan_raster`), each chip's footprint in the
dataset's CRS, its split (see :mod:`train.dataset.split`), the part of its
footprint on its split's ground where a block edge crops it, or None where the
chip is dropped so that no ground lies in two splits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from poppyscan.tiles import GridSpec, RasterInfo, plan_raster
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.tiles.grid import GridCell
from poppyscan.train.dataset.split import (
    allot_units,
    block_box,
    block_of,
    blocks_touched,
    drop_conflicts,
    give_val_labels,
    group_overlapping,
)

__all__ = ["ChipPlan", "plan_dataset", "chip_tags"]

# Weight of a chip showing no label when sharing ground out among splits (one showing labels: 1).
EMPTY_CHIP_WEIGHT = 0.05
# Draws of the split tried until train, val (and test) each get chips that show labels.
MAX_DRAWS = 20


@dataclass
class ChipPlan:
    """A grid cell's fate, decided before any pixel is read."""

    info: RasterInfo
    cell: GridCell
    chip_id: str
    footprint: shapely.Polygon  # in the dataset's CRS
    split: str | None = None  # None: dropped so that no ground is in two splits
    region: shapely.Geometry | None = None  # cropped: the footprint's part on its split's ground

    @property
    def ground(self) -> shapely.Geometry:
        """The ground this chip holds for its split, in the dataset's CRS."""
        return self.footprint if self.region is None else self.region


def chip_tags(infos: Sequence[RasterInfo]) -> list[str]:
    """A short, unique name per source: its stem, numbered where stems repeat."""
    stems = [Path(info.path).stem for info in infos]
    repeats = {s for s, n in Counter(stems).items() if n > 1}
    return [f"{s}-{i}" if s in repeats else s for i, s in enumerate(stems)]


def plan_dataset(
    infos: Sequence[RasterInfo],
    grid: GridSpec,
    crs,
    labels_tree: shapely.STRtree,
    *,
    split: str,
    block_m: float | None,
    val_frac: float,
    test_frac: float,
    rng: np.random.Generator,
    min_valid_frac: float,
    min_visible_frac: float,
) -> dict[tuple[str, int, int], ChipPlan]:
    """Every chip worth reading, with its split (None: dropped), decided from geometry alone."""
    plans: dict[tuple[str, int, int], ChipPlan] = {}
    for info, tag in zip(infos, chip_tags(infos), strict=True):
        cells = list(plan_raster(info, grid, prescreen=min_valid_frac > 0).cells())
        info_crs = info.crs.to_wkt()
        for cell in cells:
            footprint = reproject_geometry(cell.polygon, info_crs, crs)
            plans[(info.path, cell.row, cell.col)] = ChipPlan(
                info, cell, f"{tag}_r{cell.row:04d}_c{cell.col:04d}", footprint
            )
    items = list(plans.values())
    # Splits share out the chips that show labels: val and test need plots to score.
    touched = _shows_labels([p.footprint for p in items], labels_tree, min_visible_frac)
    weights = np.where(touched, 1.0, EMPTY_CHIP_WEIGHT)
    needed = {"train", "val"} | ({"test"} if test_frac > 0 else set())
    for _ in range(MAX_DRAWS):
        if split == "block":
            _split_by_block(items, weights, touched, infos[0], block_m, val_frac, test_frac, rng)
        else:
            _split_by_ortho(items, weights, infos, val_frac, test_frac, rng)
        kept = [p for p in items if p.split is not None]
        keep = drop_conflicts([p.ground for p in kept], [p.split for p in kept])
        for plan, ok in zip(kept, keep, strict=True):
            if not ok:
                plan.split = None
        # A small split may get no labelled chip: draw again.
        if needed <= {p.split for p, t in zip(items, touched, strict=True) if t and p.split is not None}:
            break
    return plans


def _shows_labels(footprints, tree: shapely.STRtree, min_visible_frac: float) -> np.ndarray:
    """Chips whose footprint shows some label whole enough to be kept (collar not known yet)."""
    footprints = np.asarray(footprints, dtype=object)
    shows = np.zeros(len(footprints), dtype=bool)
    if not len(footprints):
        return shows
    chip_idx, label_idx = tree.query(footprints, predicate="intersects")
    labels = tree.geometries[label_idx]
    inside = shapely.area(shapely.intersection(labels, footprints[chip_idx]))
    least = np.minimum(shapely.area(labels), shapely.area(footprints[chip_idx]))
    shows[np.unique(chip_idx[inside >= min_visible_frac * least])] = True
    return shows


def _split_by_block(items, weights, touched, first: RasterInfo, block_m, val_frac, test_frac,
                    rng) -> None:
    origin = (first.transform.c, first.transform.f)
    home = []
    unit_weights: Counter = Counter()
    shown: Counter = Counter()
    for plan, weight, shows in zip(items, weights, touched, strict=True):
        centre = plan.footprint.centroid
        home.append(block_of(centre.x, centre.y, origin, block_m))
        unit_weights[home[-1]] += weight
        shown[home[-1]] += int(shows)
    splits = allot_units(unit_weights, val_frac=val_frac, test_frac=test_frac, rng=rng)
    give_val_labels(splits, shown)
    owner = _BlockOwner(splits)
    for plan, block in zip(items, home, strict=True):
        own = splits[block]
        blocks = blocks_touched(plan.footprint.bounds, origin, block_m)
        mine = [b for b in blocks if owner(b) == own]
        plan.split = own
        plan.region = None if len(mine) == len(blocks) else _home_part(shapely.intersection(
            plan.footprint, shapely.union_all([block_box(b, origin, block_m) for b in mine])),
            plan.footprint.centroid)


class _BlockOwner:
    """The split of any block: its own, or for a block holding no chip centre (a strip at the
    far edge of the imagery, or padding) the split of the nearest block that holds one."""

    def __init__(self, splits: dict) -> None:
        self.splits = splits
        self.keys = np.array(sorted(splits), dtype=int).reshape(-1, 2)
        self.cache: dict = {}

    def __call__(self, block: tuple[int, int]) -> str:
        if block in self.splits:
            return self.splits[block]
        if block not in self.cache:
            d = np.abs(self.keys - np.asarray(block))
            nearest = np.lexsort((self.keys[:, 1], self.keys[:, 0], d.sum(1), d.max(1)))[0]
            self.cache[block] = self.splits[tuple(self.keys[nearest].tolist())]
        return self.cache[block]


def _home_part(region: shapely.Geometry, centre: shapely.Point) -> shapely.Polygon:
    """The polygon of ``region`` holding ``centre`` (own blocks meeting only at a corner are two)."""
    if region.geom_type == "Polygon":
        return region
    parts = [g for g in shapely.get_parts(region) if g.geom_type == "Polygon"]
    return next((g for g in parts if g.covers(centre)), max(parts, key=lambda g: g.area))


def _split_by_ortho(items, weights, infos, val_frac, test_frac, rng) -> None:
    extents = {}
    for plan in items:  # grid extent of each source, padding included
        extents.setdefault(plan.info.path, []).append(plan.footprint.bounds)
    paths = [info.path for info in infos if info.path in extents]
    boxes = [_bounding_box(np.array(extents[path])) for path in paths]
    group = dict(zip(paths, group_overlapping(boxes), strict=True))
    unit_weights: Counter = Counter()
    for plan, weight in zip(items, weights, strict=True):
        unit_weights[group[plan.info.path]] += weight
    splits = allot_units(unit_weights, val_frac=val_frac, test_frac=test_frac, rng=rng)
    for plan in items:
        plan.split, plan.region = splits[group[plan.info.path]], None


def _bounding_box(bounds: np.ndarray) -> shapely.Polygon:
    return shapely.box(*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0))
