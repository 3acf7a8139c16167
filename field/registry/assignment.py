"""Minimum-cost one-to-one assignment: the Jonker-Volgenant solver of the ``lap`` package.

The base install has no scipy (143 MB); ``lap`` (3 MB, the solver Ultralytics' trackers
use) gives what ``scipy.optimize.linear_sum_assignment`` gives for the cost matrices of
:mod:`~poppyscan.field.registry.matching`: a matching of ``min(rows, columns)`` pairs
with the least summed cost (ties may pair differently, at the same cost).
"""

from __future__ import annotations

import lap
import numpy as np

__all__ = ["min_cost_assignment"]


def min_cost_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a least-cost matching of the finite ``cost`` matrix, rows ascending.

    >>> rows, cols = min_cost_assignment(np.array([[4.0, 1.0, 9.0], [2.0, 8.0, 5.0]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1], [1, 0])
    """
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2 or not np.isfinite(cost).all():
        raise ValueError("cost must be a 2-D matrix of finite numbers")
    if cost.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    _, col_of_row, _ = lap.lapjv(cost, extend_cost=True)  # -1: a row left unmatched
    rows = np.nonzero(col_of_row >= 0)[0]
    return rows, col_of_row[rows].astype(np.intp)
