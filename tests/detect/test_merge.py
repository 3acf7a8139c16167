"""Each merge rule on constructed cases: what it keeps and what it drops."""

import pytest
from shapely.geometry import box

from poppyscan.detect.detections import Detection
from poppyscan.detect.merge import (
    MERGE_RULES,
    MergeSettings,
    merge_detections,
    merge_settings_for,
    parse_merge_rule,
)
from poppyscan.errors import ConfigError

STRIDE, TILE = 9.6, 12.8  # metres: 192 px stride, 256 px chips at 5 cm


def chip(row, col):
    x0, y1 = col * STRIDE, -row * STRIDE
    return box(x0, y1 - TILE, x0 + TILE, y1)


def det(bounds, row, col, conf=0.9, source="a.tif", cls=0):
    """A detection of ``bounds`` (x0, y0, x1, y1, map metres) as chip (row, col) saw it."""
    c = chip(row, col)
    poly = box(*bounds).intersection(c)
    cut = any(abs(a - b) < 0.1 for a, b in zip(poly.bounds, c.bounds, strict=True))
    return Detection(poly, conf, cls, source, (row, col), c, cut)


def fragments(x0, y0, x1, y1, chips):
    return [det((x0, y0, x1, y1), r, c) for r, c in chips]


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
    "two_close_plots": ([det((1.0, -5.0, 3.0, -3.0), 0, 0), det((3.3, -5.0, 5.0, -3.0), 0, 0)], 2),
    # The same plot in two overlapping files.
    "two_files": ([det((1.0, -5.0, 3.0, -3.0), 0, 0, source="a.tif"),
                   det((1.05, -5.02, 3.02, -2.97), 0, 0, source="b.tif")], 1),
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
    # Seeds take what overlaps them; the diagonal fragment is no seed's and stays apart.
    "cluster": {"duplicate_in_overlap": 1, "cut_and_whole": 1, "across_two_chips": 1,
                "across_four_chips": 2, "two_close_plots": 2, "two_files": 1},
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


def touching_crowns():
    """Crowns A (x 8-11 m) and B (x 10.7-14 m) overlapping by 0.3 m, across the overlap of chips
    (0, 0) and (0, 1): each chip sees one crown whole and the other cut by its edge."""
    return [det((8.0, -5.0, 11.0, -2.0), 0, 0, conf=0.9), det((8.0, -5.0, 11.0, -2.0), 0, 1, conf=0.7),
            det((10.7, -5.0, 14.0, -2.0), 0, 1, conf=0.85), det((10.7, -5.0, 14.0, -2.0), 0, 0, conf=0.6)]


def test_cluster_keeps_two_touching_crowns_two_where_union_chains_them():
    crowns = touching_crowns()
    # union links the cut fragments of A (chip 1) and B (chip 0): 0.3 m of 1.4 m, over cut_overlap.
    assert len(merge_detections(crowns, rule="union")) == 1
    clusters = merge_detections(crowns, rule="cluster")
    assert len(clusters) == 2
    a, b = sorted(clusters, key=lambda c: c.polygon.bounds[0])
    assert a.polygon.equals(box(8.0, -5.0, 11.0, -2.0)) and a.conf == 0.9
    assert b.polygon.equals(box(10.7, -5.0, 14.0, -2.0)) and b.conf == 0.85


def test_cluster_joins_a_plot_cut_by_a_chip_edge():
    detections, _ = CASES["cut_and_whole"]
    (cluster,) = merge_detections(detections, rule="cluster")
    assert cluster.polygon.equals(box(11.5, -5.0, 16.0, -3.0)) and len(cluster.members) == 2


def test_cluster_never_chains_a_row_of_crowns():
    # Four 3 m crowns in a column inside the overlap of chips (0, 0) and (0, 1), each seen by
    # both; neighbours overlap by 35 %. union chains the column into one; each cluster seed
    # takes its own crown and at most one neighbour's box, never the neighbour's neighbour.
    row = [det((9.7, y - 3.0, 12.7, y), 0, col, conf=0.9 - 0.01 * i - 0.1 * col)
           for i, y in enumerate((-0.2, -2.15, -4.1, -6.05)) for col in (0, 1)]
    assert len(merge_detections(row, rule="union")) == 1
    clusters = merge_detections(row, rule="cluster")
    assert len(clusters) == 4
    assert all(c.polygon.bounds[3] - c.polygon.bounds[1] <= 3.0 + 1.95 + 1e-9 for c in clusters)


def test_per_class_rules_merge_each_class_on_its_own():
    crowns = touching_crowns()
    hut = [det((2.0, -9.0, 4.0, -7.0), 0, 0, cls=1), det((2.1, -9.0, 4.1, -7.0), 0, 0, cls=1, conf=0.5)]
    settings = merge_settings_for({"tree": "cluster", "hut": "nms"}, ["tree", "hut"])
    assert settings.by_class == {0: "cluster", 1: "nms"} and settings.rule_of(1) == "nms"
    clusters = settings.apply([*crowns, *hut])
    assert sorted(c.cls for c in clusters) == [0, 0, 1]  # two crowns, one hut (NMS in one chip)
    assert settings.spec(["tree", "hut"]) == {"tree": "cluster", "hut": "nms"}
    assert MergeSettings("union").spec(["tree"]) == "union"


def test_a_rule_per_class_must_name_every_class_and_only_those():
    with pytest.raises(ConfigError, match=r"lacks a rule for \['hut'\]"):
        merge_settings_for({"tree": "cluster"}, ["tree", "hut"])
    with pytest.raises(ConfigError, match=r"names no class \['poppy'\]"):
        merge_settings_for({"poppy": "union", "tree": "union"}, ["tree"])
    with pytest.raises(ConfigError, match="not one of"):
        merge_settings_for({"tree": "chain"}, ["tree"])


def test_merge_rules_parse_from_the_command_line():
    assert parse_merge_rule("cluster") == "cluster"
    assert parse_merge_rule("tree=cluster,hut=nms") == {"tree": "cluster", "hut": "nms"}
    with pytest.raises(ConfigError, match="not one of"):
        parse_merge_rule("chain")
    with pytest.raises(ConfigError, match="each class once"):
        parse_merge_rule("tree=cluster,tree=nms")
