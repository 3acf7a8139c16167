"""Merging detections in map space into one cluster per plot.

Overlapping chips see the same plot twice, chip edges cut big plots into
fragments, and a mission's orthomosaics overlap. Five rules are implemented so
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
``cluster`` (for countable objects: tree crowns, huts, vehicles)
    The most confident detection not yet taken is a *seed*; it takes every
    free detection from another chip (or file) whose overlap with the seed
    covers at least ``min_overlap`` of the smaller of the two (this is also
    the larger of IoU and intersection over the smaller, since IoU is never
    the larger). Only seeds take, so there is no chaining: two touching crowns,
    each seen by two chips, stay two, where ``union`` links them through the
    small overlap of their cut fragments. A plot cut by a chip edge and seen
    whole by the neighbour joins (the fragment lies inside the whole box), and
    so do the two fragments of a plot wider than the overlap; the diagonal
    fragments of a plot across four chips overlap too little and stay apart.

``union`` stays the default for poppy plots: a field of irregular outline is
one object however many chips cut it. A card may name a rule per class
(``thresholds.merge_rule: {tree: cluster, hut: nms}``); each class is then
merged on its own. With one rule for all, detections merge whatever their class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.strtree import STRtree

from poppyscan.detect.detections import Detection
from poppyscan.errors import ConfigError
from poppyscan.tiles.geometry import connected_groups

__all__ = ["Cluster", "DEFAULT_MERGE", "MERGE_RULES", "MergeSettings", "merge_detections",
           "merge_settings_for", "parse_merge_rule"]

MERGE_RULES = ("union", "nms", "contain", "core", "cluster")


@dataclass(frozen=True)
class MergeSettings:
    """A merge rule with its options, as a model card fixes them (see :meth:`apply`).

    ``by_class`` (class index -> rule) merges each class on its own, by its
    own rule (classes not named: ``rule``); empty, every detection is merged
    together by ``rule``.
    """

    rule: str = "union"
    options: dict[str, float] = field(default_factory=dict)
    by_class: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rule in (self.rule, *self.by_class.values()):
            _check_rule(rule)

    def apply(self, detections: Sequence[Detection]) -> list[Cluster]:
        if not self.by_class:
            return merge_detections(detections, rule=self.rule, **self.options)
        clusters: list[Cluster] = []
        for cls in sorted({d.cls for d in detections}):
            group = [d for d in detections if d.cls == cls]
            clusters += merge_detections(group, rule=self.rule_of(cls), **self.options)
        return clusters

    def rule_of(self, cls: int) -> str:
        """The rule class ``cls`` is merged by."""
        return self.by_class.get(cls, self.rule)

    def spec(self, classes: Sequence[str]) -> str | dict[str, str]:
        """The rule as a card writes it: one name, or ``{class name: rule}``."""
        if not self.by_class:
            return self.rule
        return {name: self.rule_of(i) for i, name in enumerate(classes)}


def _check_rule(rule: str) -> None:
    if rule not in MERGE_RULES:
        raise ConfigError(f"merge rule {rule!r} is not one of {', '.join(MERGE_RULES)}")


def merge_settings_for(
    rule: str | Mapping[str, str], classes: Sequence[str], options: Mapping[str, float] | None = None
) -> MergeSettings:
    """Settings for a card's ``merge_rule``: one rule, or a rule for each of ``classes`` by name.

    >>> merge_settings_for({"tree": "cluster", "hut": "nms"}, ["hut", "tree"]).by_class
    {0: 'nms', 1: 'cluster'}
    """
    options = dict(options or {})
    if isinstance(rule, str):
        return MergeSettings(rule, options)
    if not isinstance(rule, Mapping) or not rule:
        raise ConfigError(f"merge rule {rule!r}: give a rule name or a mapping class -> rule")
    unknown = sorted(set(rule) - set(classes))
    missing = [c for c in classes if c not in rule]
    if unknown or missing:
        raise ConfigError(
            f"merge rule per class {dict(rule)}: "
            + (f"names no class {unknown}; " if unknown else "")
            + (f"lacks a rule for {missing}; " if missing else "")
            + f"the model's classes are {list(classes)}"
        )
    by_class = {i: str(rule[name]) for i, name in enumerate(classes)}
    return MergeSettings(by_class[0], options, by_class)


def parse_merge_rule(value: str) -> str | dict[str, str]:
    """A rule from the command line: ``union``, or ``CLASS=RULE,...`` for a rule per class.

    >>> parse_merge_rule("tree=cluster, hut=nms")
    {'tree': 'cluster', 'hut': 'nms'}
    """
    text = value.strip()
    if "=" not in text:
        _check_rule(text)
        return text
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, rule = (p.strip() for p in part.partition("="))
        if not sep or not name or name in out:
            raise ConfigError(f"merge {value!r}: expected RULE or CLASS=RULE,... with each class once")
        _check_rule(rule)
        out[name] = rule
    return out


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

    @property
    def cls(self) -> int:
        """The class of the most confident member."""
        return max(self.members, key=lambda d: d.conf).cls


def merge_detections(
    detections: Sequence[Detection],
    *,
    rule: str = "union",
    min_overlap: float = 0.3,
    cut_overlap: float = 0.02,
    iou: float = 0.5,
) -> list[Cluster]:
    """Merge ``detections`` (all in one projected CRS) with ``rule``; see the module doc."""
    _check_rule(rule)
    for name, value in (("min_overlap", min_overlap), ("cut_overlap", cut_overlap), ("iou", iou)):
        if not 0 < value <= 1:
            raise ConfigError(f"{name}={value!r} must be in (0, 1]")
    if not detections:
        return []
    if rule == "union":
        return _union(detections, min_overlap, cut_overlap)
    if rule == "cluster":
        return _cluster(detections, min_overlap)
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
    return [_joined(detections, polygons, np.flatnonzero(labels == group))
            for group in range(labels.max() + 1 if len(labels) else 0)]


def _joined(detections, polygons: np.ndarray, members: np.ndarray) -> Cluster:
    """One cluster of ``members``, outlined by the union of their polygons."""
    outline = shapely.union_all(polygons[members])
    if outline.geom_type != "Polygon":  # touching only at a corner: keep the hull
        outline = outline.convex_hull
    return Cluster(tuple(detections[k] for k in members), outline)


def _cluster(detections, min_overlap) -> list[Cluster]:
    """Seeds, most confident first, each taking the free detections it overlaps strongly."""
    polygons = np.array([d.polygon for d in detections], dtype=object)
    areas = shapely.area(polygons)
    tree = STRtree(polygons)
    taken = np.zeros(len(detections), dtype=bool)
    clusters = []
    for seed in sorted(range(len(detections)), key=lambda k: (-detections[k].conf, -areas[k])):
        if taken[seed]:
            continue
        near = tree.query(polygons[seed], predicate="intersects")
        near = near[~taken[near]
                    & np.array([detections[k].chip_key != detections[seed].chip_key for k in near],
                               dtype=bool)]
        inter = shapely.area(shapely.intersection(polygons[near], polygons[seed]))
        near = near[inter / np.maximum(np.minimum(areas[near], areas[seed]), 1e-12) >= min_overlap]
        members = np.sort(np.append(near, seed))
        taken[members] = True
        clusters.append(_joined(detections, polygons, members))
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
