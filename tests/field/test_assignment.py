"""The registry's assignment (lap) against scipy's, and connected groups against scipy's graphs."""

import numpy as np
import pytest

from poppyscan.field.registry.assignment import min_cost_assignment
from poppyscan.tiles.geometry import connected_groups

scipy_optimize = pytest.importorskip("scipy.optimize", reason="scipy comes with the train extra")


@pytest.mark.parametrize("ints", [False, True])
def test_same_least_cost_as_scipy(ints):
    rng = np.random.default_rng(3)
    for _ in range(400):
        n, m = rng.integers(1, 9, 2)
        cost = rng.integers(0, 4, (n, m)).astype(float) if ints else rng.random((n, m)) * 50
        want_r, want_c = scipy_optimize.linear_sum_assignment(cost)
        rows, cols = min_cost_assignment(cost)
        assert len(rows) == min(n, m) == len(set(rows)) == len(set(cols))
        assert cost[rows, cols].sum() == pytest.approx(cost[want_r, want_c].sum(), abs=1e-9)
        if not ints:  # no ties: the very same pairs
            assert rows.tolist() == want_r.tolist() and cols.tolist() == want_c.tolist()


def test_refuses_non_finite_costs():
    with pytest.raises(ValueError, match="finite"):
        min_cost_assignment(np.array([[1.0, np.inf]]))


def test_connected_groups_as_scipy_labels_them():
    sparse = pytest.importorskip("scipy.sparse")
    csgraph = pytest.importorskip("scipy.sparse.csgraph")
    rng = np.random.default_rng(4)
    for _ in range(300):
        n, k = int(rng.integers(1, 60)), int(rng.integers(0, 80))
        pairs = rng.integers(0, n, (k, 2))
        graph = sparse.coo_matrix((np.ones(k), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        want = csgraph.connected_components(graph, directed=False)[1]
        assert connected_groups(n, pairs).tolist() == want.tolist()


def test_connected_groups_of_a_long_shuffled_chain():
    rng = np.random.default_rng(5)
    n = 20_000
    order = rng.permutation(n)
    pairs = np.stack([order[:-1], order[1:]], axis=1)[rng.permutation(n - 1)]
    assert connected_groups(n, pairs).tolist() == [0] * n
    assert connected_groups(3, np.empty((0, 2))).tolist() == [0, 1, 2]
