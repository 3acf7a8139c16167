"""Each merge rule on constructed cases: what it keeps and what it drops."""

import pytest
from shapely.geometry import box

from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import MERGE_RULES, merge_detections
from poppyscan.tiles import ConfigError

STRIDE, TILE = 9.6, 12.8  # metres: 192 px stride, 256 px chips at 5 cm


def chip(row, col):
    x0, y1 = col * STRIDE, -row * STRIDE
    return box(x0, y1 - TILE, x0 + TILE, y1)


def det(x0, y0, x1, y1, row, col, conf=0.9, source="a.tif"):
    c = chip(row, col)
    poly = box(x0, y0, x1, y1).intersection(c)
    cut = any(abs(a - b) < 0.1 for a, b in zip(poly.bounds, c.bounds, strict=True))
    return Detection(poly, conf, 0, source, (row, col), c, cut)


def fragments(x0, y0, x1, y1, chips):
    return [det(x0, y0, x1, y1, r, c) for r, c in chips]


CASES = {
    # Plot inside the overlap of two chips, seen whole twice.
    "duplicate_in_overlap": (fragments(10.0, -5.0, 12.0, -3.0, [(0, 0), (0, 1)]), 1),
    # Plot seen whole in chip (0, 1), cut by chip (0, 0)'s right edge.
    "cut_and_whole": (fragments(11.5, -5.0, 16.0, -3.0, [(0, 0), (0, 1)]), 1),
    # Plot wider than the overlap: two cut fragments, never seen whole.
    "across_two_chips": (fragments(5.0, -5.0, 18.0, -3.0, [(0, 0), (0, 1)]), 1),
    # Plot larger than one chip, across four chips.
    "across_four_chips": (fragments(5.0, -18.0, 18.0, -5.0, [(0, 0), (0, 1), (1, 0), (1, 1)]), 1),
    # Two plots 30 cm apart in the same chip.
    "two_close_plots": ([det(1.0, -5.0, 3.0, -3.0, 0, 0), det(3.3, -5.0, 5.0, -3.0, 0, 0)], 2),
    # The same plot in two overlapping files.
    "two_files": ([det(1.0, -5.0, 3.0, -3.0, 0, 0, source="a.tif"),
                   det(1.05, -5.02, 3.02, -2.97, 0, 0, source="b.tif")], 1),
}

# Targets each rule produces per case; the union rule is the only one right everywhere.
EXPECTED = {
    "union": {"duplicate_in_overlap": 1, "cut_and_whole": 1, "across_two_chips": 1,
              "across_four_chips": 1, "two_close_plots": 2, "two_files": 1},
    "nms": {"duplicate_in_overlap": 1, "cut_and_whole": 2, "across_two_chips": 2,
            "across_four_chips": 4, "two_close_plots": 2, "two_files": 1},
    # Fragments overlapping by >= 30% of the smaller one are absorbed; diagonal ones are not.
    "contain": {"duplicate_in_overlap": 1, "cut_and_whole": 1, "across_two_chips": 1,
                "across_four_chips": 2, "two_close_plots": 2, "two_files": 1},
    "core": {"duplicate_in_overlap": 1, "cut_and_whole": 1, "across_two_chips": 2,
             "across_four_chips": 4, "two_close_plots": 2, "two_files": 2},
}


@pytest.mark.parametrize("rule", MERGE_RULES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_on_constructed_case(rule, case):
    detections, truth = CASES[case]
    clusters = merge_detections(detections, rule=rule)
    assert len(clusters) == EXPECTED[rule][case]
    assert sum(len(c.members) for c in clusters) <= len(detections)


def test_union_outline_covers_the_whole_plot():
    detections, _ = CASES["across_four_chips"]
    (cluster,) = merge_detections(detections, rule="union")
    assert cluster.polygon.equals_exact(box(5.0, -18.0, 18.0, -5.0), 1e-9) or (
        cluster.polygon.symmetric_difference(box(5.0, -18.0, 18.0, -5.0)).area < 1e-9)
    assert cluster.conf == 0.9 and len(cluster.members) == 4


def test_unknown_rule_lists_the_choices():
    with pytest.raises(ConfigError, match="union, nms, contain, core"):
        merge_detections([], rule="average")
