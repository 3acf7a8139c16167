"""One-to-one matching of a run's sightings to known targets, in metres.

A repeat flight sees the same plot at another place: each flight's
georeference is off by its own position uncertainty (1-3 m without ground
control), and the model draws the outline a little differently at another GSD.
A sighting and a target are *candidates* when

* their centroids lie within ``hypot(u_sighting, u_target)`` metres (the two
  flights' uncertainties combined), or
* their outlines overlap by at least ``MIN_OVERLAP_FRAC`` of the smaller one
  (large plots, whose centroids move with the drawn outline).

Candidates form small connected groups; within each, the assignment that
minimises the summed centroid distance (Jonker-Volgenant, ``lap``) pairs them one to
one, so two neighbouring plots never collapse into one target. Sightings left
over become new targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from poppyscan.field.registry.assignment import min_cost_assignment
from poppyscan.tiles.geometry import connected_groups

__all__ = ["MIN_OVERLAP_FRAC", "Match", "match_sightings"]

MIN_OVERLAP_FRAC = 0.3


@dataclass(frozen=True)
class Match:
    """Sighting ``sighting`` joins target ``target``, ``distance_m`` apart (by ``rule``)."""

    sighting: int
    target: int
    distance_m: float
    rule: str  # "distance" (within the uncertainty) or "overlap"


def match_sightings(
    sighting_xy: np.ndarray,
    sighting_outlines: np.ndarray,
    sighting_u_m: float,
    target_xy: np.ndarray,
    target_outlines: np.ndarray,
    target_u_m: np.ndarray,
) -> list[Match]:
    """Pairs of (sighting index, target index); all inputs in one metric CRS.

    ``*_xy``: (n, 2) centroids; ``*_outlines``: polygons (None allowed for a
    target without one); ``sighting_u_m``: the run's position uncertainty;
    ``target_u_m``: each target's.
    """
    sighting_xy, target_xy = np.asarray(sighting_xy, float), np.asarray(target_xy, float)
    if not len(sighting_xy) or not len(target_xy):
        return []
    pairs, rules = _candidates(sighting_xy, sighting_outlines, sighting_u_m, target_xy,
                               target_outlines, np.asarray(target_u_m, float))
    if not len(pairs):
        return []
    n_s = len(sighting_xy)
    # Sightings are nodes 0..n_s-1, targets n_s..; a group is one small assignment problem.
    edges = np.column_stack([pairs[:, 0], pairs[:, 1] + n_s])
    group = connected_groups(n_s + len(target_xy), edges)
    dist = np.hypot(*(sighting_xy[pairs[:, 0]] - target_xy[pairs[:, 1]]).T)
    matches = []
    for g in np.unique(group[pairs[:, 0]]):
        sel = np.flatnonzero(group[pairs[:, 0]] == g)
        rows, row_of = np.unique(pairs[sel, 0], return_inverse=True)
        cols, col_of = np.unique(pairs[sel, 1], return_inverse=True)
        cost = np.full((len(rows), len(cols)), np.inf)
        cost[row_of, col_of] = dist[sel]
        big = np.nanmax(dist[sel]) * 10 + 1e6  # "not a candidate": never chosen over a real pair
        r, c = min_cost_assignment(np.where(np.isfinite(cost), cost, big))
        for i, j in zip(r, c, strict=True):
            if np.isfinite(cost[i, j]):
                k = sel[(row_of == i) & (col_of == j)][0]
                matches.append(Match(int(rows[i]), int(cols[j]), float(cost[i, j]), rules[k]))
    return sorted(matches, key=lambda m: m.sighting)


def _candidates(s_xy, s_outlines, s_u, t_xy, t_outlines, t_u) -> tuple[np.ndarray, list[str]]:
    """(k, 2) candidate (sighting, target) index pairs and the rule that made each."""
    tol = np.hypot(s_u, t_u)
    tree = shapely.STRtree(shapely.points(t_xy))
    near = tree.query(shapely.points(s_xy), predicate="dwithin", distance=float(tol.max()))
    d = np.hypot(*(s_xy[near[0]] - t_xy[near[1]]).T)
    found = {(int(i), int(j)): "distance" for i, j in near[:, d <= tol[near[1]]].T}
    s_outlines = np.asarray(s_outlines, dtype=object)
    t_outlines = np.asarray(t_outlines, dtype=object)
    has = np.flatnonzero(t_outlines != None)  # noqa: E711 (elementwise on an object array)
    if len(has):
        hits = shapely.STRtree(t_outlines[has]).query(s_outlines, predicate="intersects")
        for i, jj in hits.T:
            j = int(has[jj])
            a, b = s_outlines[i], t_outlines[j]
            smaller = min(a.area, b.area)
            if smaller > 0 and a.intersection(b).area >= MIN_OVERLAP_FRAC * smaller:
                found.setdefault((int(i), j), "overlap")
    keys = sorted(found)
    return np.array(keys, dtype=int).reshape(-1, 2), [found[k] for k in keys]
