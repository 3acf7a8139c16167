"""A model of another class: its name, never "poppy", in every output a person reads."""

from __future__ import annotations

import dataclasses
import json
import re

import pyogrio

from poppyscan.detect.build import priority_score
from poppyscan.detect.export import write_all
from tests.detect.export_samples import sample_targets


def test_class_name_flows_into_every_output(tmp_path):
    trees = [dataclasses.replace(t, label="tree", model_id="crowns-1") for t in sample_targets()]
    written = write_all(tmp_path, trees, mission="M1", model_id="crowns-1")
    texts = {key: path.read_text(errors="replace") for key, path in written.items()
             if path.suffix in (".geojson", ".gpx", ".kml", ".html")}
    for key, text in texts.items():
        assert re.findall(r"poppy(?!scan)", text.lower()) == [], key  # the program's name may stay
    names = [f["properties"]["name"] for f in
             json.loads(texts["targets_geojson"])["features"]]
    assert names[0] == "M1-0001 tree? 91%"
    assert "<h1>Suspected tree targets: mission M1</h1>" in texts["report"]
    assert "<type>tree target (high confidence)</type>" in texts["gpx"]
    fields = list(pyogrio.read_info(written["gpkg"], layer="targets")["fields"])
    assert "label" in fields


def test_priority_uses_the_class_full_area():
    assert priority_score(0.8, 50) == 0.8 * (0.75 + 0.25 * 0.5)
    assert priority_score(0.8, 50, full_area_m2=25) == 0.8
