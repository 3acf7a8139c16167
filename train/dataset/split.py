"""Spatially blocked train/val/test splits: no ground pixel in two splits.

Neighbouring chips overlap and share the same plots, so a random split by chip
leaks: the model is tested on pixels it trained on. Instead the ground is cut
into square *blocks* (or whole orthomosaics are kept together) and every block
goes to one split. A chip belongs to the block holding its centre; a chip whose
footprint reaches into a block of another split is *cropped* to the blocks of
its own split: the pixels beyond are masked like the collar (a pixel goes with
the block holding its centre), so no pixel is in two splits and no chip, nor
the labels it holds, is lost at a block edge. A last check drops any chip
whose ground still overlaps a chip of another split.

Validation is never left without labels: when at least three chips show one
and none of them lands in val, one labelled block moves there (the smallest
that leaves its split a labelled chip).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import shapely
from shapely.strtree import STRtree

from poppyscan.tiles.geometry import connected_groups
from poppyscan.train.dataset_options import SPLIT_MODES, check_fracs

__all__ = [
    "SPLITS",
    "SPLIT_MODES",
    "default_block_m",
    "block_of",
    "blocks_touched",
    "block_box",
    "allot_units",
    "give_val_labels",
    "group_overlapping",
    "drop_conflicts",
    "check_fracs",
]

SPLITS = ("train", "val", "test")
# Block edges within this fraction of a block of a chip edge count as the same line.
_EDGE_TOL = 1e-6
# Shared area below this fraction of a chip is an edge touching, not an overlap.
_AREA_TOL = 1e-9


def default_block_m(gsd_m: float, tile_px: int, overlap_px: int) -> float:
    """Blocks of whole chip strides, at least two chips wide: ``ceil(2 tile / stride) * stride``.

    Whole strides keep block edges on chip edges, so fewer chips cross a block
    edge; two chips wide is larger than a chip plus its overlap.

    >>> default_block_m(0.1, 128, 32)  # stride 96 px: 3 strides
    28.8
    """
    stride_px = tile_px - overlap_px
    return round(math.ceil(2 * tile_px / stride_px) * stride_px * gsd_m, 9)


def block_of(x: float, y: float, origin: tuple[float, float], block_m: float) -> tuple[int, int]:
    """Block ``(row, col)`` holding map point ``x, y``; rows count down from ``origin``'s north edge."""
    x0, y0 = origin
    return math.floor((y0 - y) / block_m), math.floor((x - x0) / block_m)


def blocks_touched(
    bounds: Sequence[float], origin: tuple[float, float], block_m: float
) -> list[tuple[int, int]]:
    """Blocks that map bounds ``left, bottom, right, top`` cover with a positive area."""
    left, bottom, right, top = bounds
    x0, y0 = origin
    c0 = math.floor((left - x0) / block_m + _EDGE_TOL)
    c1 = math.ceil((right - x0) / block_m - _EDGE_TOL)
    r0 = math.floor((y0 - top) / block_m + _EDGE_TOL)
    r1 = math.ceil((y0 - bottom) / block_m - _EDGE_TOL)
    return [(r, c) for r in range(r0, max(r1, r0 + 1)) for c in range(c0, max(c1, c0 + 1))]


def block_box(block: tuple[int, int], origin: tuple[float, float], block_m: float) -> shapely.Polygon:
    """The map square of block ``(row, col)``."""
    (row, col), (x0, y0) = block, origin
    return shapely.box(x0 + col * block_m, y0 - (row + 1) * block_m, x0 + (col + 1) * block_m,
                       y0 - row * block_m)


def allot_units(
    weights: Mapping[Hashable, float],
    *,
    val_frac: float,
    test_frac: float,
    rng: np.random.Generator,
) -> dict[Hashable, str]:
    """Give each unit (block or ortho group) a split, in a seeded random order.

    Units are shuffled, then each goes to the split furthest below its share of
    the total weight (``val_frac``, ``test_frac``, the rest ``train``; ties in
    the order train, val, test). Shares are met as closely as whole units allow.
    """
    keys = sorted(weights, key=repr)
    order = [keys[i] for i in rng.permutation(len(keys))]
    total = float(sum(weights[k] for k in keys))
    share = {"train": 1.0 - val_frac - test_frac, "val": val_frac, "test": test_frac}
    taken = dict.fromkeys(SPLITS, 0.0)
    out: dict[Hashable, str] = {}
    for unit in order:
        split = max(SPLITS, key=lambda s: (share[s] * total - taken[s], -SPLITS.index(s)))
        out[unit] = split
        taken[split] += weights[unit]
    return out


def give_val_labels(splits: dict[Hashable, str], shown: Mapping[Hashable, int]) -> Hashable | None:
    """Move one unit into val when val has none of the chips that show labels; the unit moved.

    Only when at least three chips show labels (``shown``: per unit). The unit
    moved shows the fewest labels among those whose split keeps a labelled chip
    without it; ties go to the larger split, then the unit's ``repr``.
    """
    labelled: Counter = Counter()
    for unit, split in splits.items():
        labelled[split] += shown.get(unit, 0)
    if sum(labelled.values()) < 3 or labelled["val"]:
        return None
    movable = [u for u, s in splits.items() if shown.get(u, 0) and labelled[s] > shown[u]]
    if not movable:
        return None
    unit = min(movable, key=lambda u: (shown[u], -labelled[splits[u]], repr(u)))
    splits[unit] = "val"
    return unit


def group_overlapping(polygons: Sequence) -> list[int]:
    """Group index of each polygon: polygons that overlap (directly or in a chain) share one."""
    polys = np.asarray(polygons, dtype=object)
    pairs = []
    if len(polys):
        left, right = STRtree(polys).query(polys, predicate="intersects")
        pairs = [(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True)
                 if a < b and _overlap(polys[a], polys[b])]
    return connected_groups(len(polys), np.array(pairs)).tolist()


def drop_conflicts(footprints: Sequence, splits: Sequence[str]) -> np.ndarray:
    """Keep-mask that leaves no two footprints of different splits overlapping.

    Of each overlapping pair the chip of the larger split is dropped (train
    before val before test), so the small evaluation splits keep their chips.
    """
    polys = np.asarray(footprints, dtype=object)
    splits = list(splits)
    keep = np.ones(len(polys), dtype=bool)
    if len(polys) < 2:
        return keep
    counts = {s: splits.count(s) for s in set(splits)}
    left, right = STRtree(polys).query(polys, predicate="intersects")
    for a, b in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if a >= b or splits[a] == splits[b] or not (keep[a] and keep[b]):
            continue
        if not _overlap(polys[a], polys[b]):
            continue
        rank = {s: (counts[s], -SPLITS.index(s)) for s in (splits[a], splits[b])}
        keep[a if rank[splits[a]] > rank[splits[b]] else b] = False
    return keep


def _overlap(a, b) -> bool:
    return shapely.intersection(a, b).area > _AREA_TOL * min(a.area, b.area)
