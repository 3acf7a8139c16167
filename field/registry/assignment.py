"""Minimum-cost one-to-one assignment (the Hungarian method), in numpy alone.

The base install has no scipy; this gives what ``scipy.optimize.linear_sum_assignment``
gives for the small cost matrices of :mod:`~poppyscan.field.registry.matching`: a
matching of ``min(rows, columns)`` pairs with the least summed cost (ties may pair
differently, at the same cost).
"""

from __future__ import annotations

import numpy as np

__all__ = ["min_cost_assignment"]


def min_cost_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a least-cost matching of the finite ``cost`` matrix, rows ascending.

    >>> rows, cols = min_cost_assignment(np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1], [1, 0])
    """
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2 or not np.isfinite(cost).all():
        raise ValueError("cost must be a 2-D matrix of finite numbers")
    transposed = cost.shape[0] > cost.shape[1]
    row_of_col = _assign(cost.T if transposed else cost)
    cols = np.nonzero(row_of_col >= 0)[0]
    rows = row_of_col[cols]
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]


def _assign(cost: np.ndarray) -> np.ndarray:
    """The row matched to each column (-1: none) for ``rows <= columns``.

    Shortest augmenting paths with row and column potentials (Kuhn-Munkres in
    O(rows^2 columns)); column 0 of the work arrays is the virtual start.
    """
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # 1-based row holding each column, 0: free
    way = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        owner[0], col = row, 0
        minv, used = np.full(m + 1, np.inf), np.zeros(m + 1, dtype=bool)
        while True:
            used[col] = True
            reduced = cost[owner[col] - 1] - u[owner[col]] - v[1:]
            better = ~used[1:] & (reduced < minv[1:])
            minv[1:][better], way[1:][better] = reduced[better], col
            candidates = np.where(used[1:], np.inf, minv[1:])
            nxt = int(np.argmin(candidates)) + 1
            delta = candidates[nxt - 1]
            u[owner[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col:  # flip the augmenting path
            prev = way[col]
            owner[col] = owner[prev]
            col = prev
    return owner[1:] - 1
