"""Split targets into crew lists and order each list as a walk.

Crews split the ground, not the ranking: k-means on the targets' positions (in
metres) gives each crew one compact area, so nobody crosses another's valley.
Within a list the walk starts at its most urgent target, goes to the nearest
unvisited one each time, and is then shortened by 2-opt (reversing any stretch
that makes it shorter). Straight-line distance stands in for the path: hills
and rivers are not known here.

k-means starts from deterministic seeds (the most urgent target, then each
time the target farthest from the chosen ones), so one registry always gives
the same lists.
"""

from __future__ import annotations

import numpy as np

from poppyscan.errors import ConfigError

__all__ = ["assign_crews", "visit_order"]

_KMEANS_ROUNDS = 100


def assign_crews(xy_m: np.ndarray, n_crews: int) -> np.ndarray:
    """Crew index (0..k-1) per target; ``xy_m`` (n, 2) metres, rows in priority order.

    Crew 0 holds the most urgent target; crews are numbered by their most urgent
    target. With fewer targets than crews, some crews get none.
    """
    if n_crews < 1:
        raise ConfigError(f"crews={n_crews} is invalid: use 1 or more")
    xy = np.asarray(xy_m, float).reshape(-1, 2)
    k = min(n_crews, len(xy))
    if k <= 1:
        return np.zeros(len(xy), dtype=int)
    centres = xy[_farthest_first(xy, k)]
    labels = np.zeros(len(xy), dtype=int)
    for _ in range(_KMEANS_ROUNDS):
        labels = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        moved = np.array([xy[labels == c].mean(0) if np.any(labels == c) else centres[c]
                          for c in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    first = [np.flatnonzero(labels == c).min() for c in range(k) if np.any(labels == c)]
    renumber = {old: new for new, old in enumerate(labels[sorted(first)])}
    return np.array([renumber[c] for c in labels], dtype=int)


def visit_order(xy_m: np.ndarray) -> np.ndarray:
    """Indexes of ``xy_m`` in walking order, starting at row 0 (the most urgent)."""
    xy = np.asarray(xy_m, float).reshape(-1, 2)
    if len(xy) <= 2:
        return np.arange(len(xy))
    dist = np.hypot(*(xy[:, None, :] - xy[None]).transpose(2, 0, 1))
    route, left = [0], set(range(1, len(xy)))
    while left:
        nxt = min(left, key=lambda j: (dist[route[-1], j], j))
        route.append(nxt)
        left.remove(nxt)
    return np.array(_two_opt(route, dist))


def _farthest_first(xy: np.ndarray, k: int) -> list[int]:
    chosen = [0]
    for _ in range(k - 1):
        d = np.min(np.hypot(*(xy[:, None, :] - xy[chosen][None]).transpose(2, 0, 1)), axis=1)
        chosen.append(int(np.argmax(d)))
    return chosen


def _two_opt(route: list[int], dist: np.ndarray) -> list[int]:
    """Reverse stretches of an open path (first stop fixed) while that shortens it."""
    improved = True
    while improved:
        improved = False
        for i in range(1, len(route) - 1):
            for j in range(i + 1, len(route)):
                a, b = route[i - 1], route[i]
                c = route[j]
                d = route[j + 1] if j + 1 < len(route) else None
                before = dist[a, b] + (dist[c, d] if d is not None else 0.0)
                after = dist[a, c] + (dist[b, d] if d is not None else 0.0)
                if after < before - 1e-9:
                    route[i:j + 1] = route[i:j + 1][::-1]
                    improved = True
    return route
