"""Merging detections in map space into one cluster per plot.

Overlapping chips see the same plot twice, chip edges cut big plots into
fragments, and a mission's orthomosaics overlap. Four rules are implemented so
their behaviour can be compared on constructed cases (``tests/detect/test_merge.py``):

``union`` (default)
    Link two detections from *different* chips when the overlap covers at least
    ``min_overlap`` of the smaller one, or, when either is cut by a chip edge,
    at least ``cut_overlap`` of it. Linked detections form one cluster whose
    outline is their union. Keeps: one target per plot across 2 and 4 chips,
    across files, and for plots larger than a chip. Boxes from the same chip are
    never linked (the model's own NMS already separated them), so two close
    plots stay two.
``nms``
    Greedy non-maximum suppression in map space at ``iou``. Drops exact
    duplicates from overlaps, but keeps the fragments of a cut plot (their IoU
    with the whole plot's box is low): a cut plot becomes several targets.
``contain``
    Suppress a detection lying at least ``min_overlap`` inside a more confident
    one. Absorbs fragments seen whole elsewhere, but the fragments of a plot
    larger than a chip only pairwise: across four chips, the diagonal fragments
    hardly overlap and it leaves two targets.
``core``
    Keep a detection only in the chip whose core (nearest chip centre) holds its
    centre. No duplicates within a file, but a plot cut by chip edges keeps one
    fragment per chip core, and files are not deduplicated against each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.strtree import STRtree

from poppyscan.detect.detections import Detection
from poppyscan.tiles.errors import ConfigError
from poppyscan.tiles.geometry import connected_groups

__all__ = ["Cluster", "DEFAULT_MERGE", "MERGE_RULES", "MergeSettings", "merge_detections"]

MERGE_RULES = ("union", "nms", "contain", "core")


@dataclass(frozen=True)
class MergeSettings:
    """A merge rule with its options, as a model card fixes them (see :meth:`apply`)."""

    rule: str = "union"
    options: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in MERGE_RULES:
            raise ConfigError(f"merge rule {self.rule!r} is not one of {', '.join(MERGE_RULES)}")

    def apply(self, detections: Sequence[Detection]) -> list[Cluster]:
        return merge_detections(detections, rule=self.rule, **self.options)


DEFAULT_MERGE = MergeSettings()


@dataclass(frozen=True)
class Cluster:
    """Detections judged to be one plot."""

    members: tuple[Detection, ...]
    polygon: Polygon

    @property
    def conf(self) -> float:
        return max(d.conf for d in self.members)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({d.source for d in self.members}))


def merge_detections(
    detections: Sequence[Detection],
    *,
    rule: str = "union",
    min_overlap: float = 0.3,
    cut_overlap: float = 0.02,
    iou: float = 0.5,
) -> list[Cluster]:
    """Merge ``detections`` (all in one projected CRS) with ``rule``; see the module doc."""
    if rule not in MERGE_RULES:
        raise ConfigError(f"merge rule {rule!r} is not one of {', '.join(MERGE_RULES)}")
    for name, value in (("min_overlap", min_overlap), ("cut_overlap", cut_overlap), ("iou", iou)):
        if not 0 < value <= 1:
            raise ConfigError(f"{name}={value!r} must be in (0, 1]")
    if not detections:
        return []
    if rule == "union":
        return _union(detections, min_overlap, cut_overlap)
    if rule == "core":
        return [Cluster((d,), d.polygon) for d in _core(detections)]
    return _suppress(detections, rule, min_overlap, iou)


def _pairs(polygons: np.ndarray) -> np.ndarray:
    """Index pairs (i < j) of intersecting polygons, found with an STRtree."""
    tree = STRtree(polygons)
    i, j = tree.query(polygons, predicate="intersects")
    keep = i < j
    return np.stack([i[keep], j[keep]], axis=1)


def _union(detections, min_overlap, cut_overlap) -> list[Cluster]:
    polygons = np.array([d.polygon for d in detections], dtype=object)
    pairs = _pairs(polygons)
    joined = np.zeros(len(pairs), dtype=bool)
    if len(pairs):
        inter = shapely.area(shapely.intersection(polygons[pairs[:, 0]], polygons[pairs[:, 1]]))
        smaller = np.minimum(
            shapely.area(polygons[pairs[:, 0]]), shapely.area(polygons[pairs[:, 1]])
        )
        ratio = inter / np.maximum(smaller, 1e-12)
        for k, ((a, b), r) in enumerate(zip(pairs, ratio, strict=True)):
            da, db = detections[a], detections[b]
            if da.chip_key != db.chip_key:
                joined[k] = r >= min_overlap or ((da.cut or db.cut) and r >= cut_overlap)
    labels = connected_groups(len(detections), pairs[joined])
    clusters = []
    for group in range(labels.max() + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == group)
        outline = shapely.union_all(polygons[members])
        if outline.geom_type != "Polygon":  # touching only at a corner: keep the hull
            outline = outline.convex_hull
        clusters.append(Cluster(tuple(detections[k] for k in members), outline))
    return clusters


def _suppress(detections, rule, min_overlap, iou) -> list[Cluster]:
    order = sorted(
        range(len(detections)), key=lambda k: (-detections[k].conf, -detections[k].polygon.area)
    )
    kept: list[int] = []
    absorbed: dict[int, list[int]] = {}
    for k in order:
        poly = detections[k].polygon
        owner = None
        for m in kept:
            inter = poly.intersection(detections[m].polygon).area
            if rule == "nms":
                hit = inter / max(poly.union(detections[m].polygon).area, 1e-12) >= iou
            else:  # contain
                hit = inter / max(poly.area, 1e-12) >= min_overlap
            if hit:
                owner = m
                break
        if owner is None:
            kept.append(k)
            absorbed[k] = [k]
        else:
            absorbed[owner].append(k)
    return [Cluster(tuple(detections[i] for i in absorbed[k]), detections[k].polygon) for k in kept]


def _core(detections) -> list[Detection]:
    """Detections whose centre is nearest (Chebyshev) to their own chip's centre."""
    chips: dict[tuple, Polygon] = {d.chip_key: d.chip_polygon for d in detections}
    by_source: dict[str, list[tuple]] = {}
    for key in chips:
        by_source.setdefault(key[0], []).append(key)
    kept = []
    for d in detections:
        centre = d.polygon.centroid
        candidates = [k for k in by_source[d.source] if chips[k].covers(centre)]
        owner = min(candidates, key=lambda k: _chebyshev(chips[k].centroid, centre))
        if owner == d.chip_key:
            kept.append(d)
    return kept


def _chebyshev(a, b) -> float:
    return max(abs(a.x - b.x), abs(a.y - b.y))
