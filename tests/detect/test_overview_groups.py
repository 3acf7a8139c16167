"""Far-apart inputs: the report draws each group of nearby files on its own map, and says so."""

from __future__ import annotations

import re

from poppyscan.detect.export import write_report_html
from poppyscan.detect.export.overview import group_far_apart, mission_overviews
from poppyscan.tiles import inspect_raster
from tests.detect.export_samples import sample_targets
from tests.detect.marks import make_marked_raster

NORTH = (500_000.0, 5_000_000.0)  # about 2,750 km north of the other origins, same UTM zone


def _rasters(tmp_path):
    near_a = make_marked_raster(tmp_path / "a.tif", (256, 256), [(10, 10, 30, 30)])
    near_b = make_marked_raster(tmp_path / "b.tif", (256, 256), [],
                                origin=(500_200.0, 2_250_000.0))  # 200 m east of a
    far = make_marked_raster(tmp_path / "far.tif", (256, 256), [], origin=NORTH)
    return [inspect_raster(p) for p in (near_a, near_b, far)]


def test_files_far_apart_fall_in_groups(tmp_path):
    infos = _rasters(tmp_path)
    groups = group_far_apart(infos)
    assert [[i.path for i in g] for g in groups] == [[infos[0].path, infos[1].path],
                                                    [infos[2].path]]
    assert len(group_far_apart(infos[:2])) == 1


def test_the_report_draws_each_group_and_warns(tmp_path):
    infos = _rasters(tmp_path)
    views = mission_overviews(infos, infos[0].crs, labels={infos[2].path: "north/far"})
    assert [caption for caption, _ in views] == ["a.tif, b.tif", "north/far"]
    # Each map spans its own group: 12.8 m of ground a file, not 2,750 km.
    (_, (image, transform, _)), (_, (far_image, _, _)) = views
    assert image.shape[1] * transform.a < 250 and far_image.shape[1] > 0
    path = write_report_html(tmp_path / "report.html", sample_targets(), mission="M1",
                             model_id="m", overview=views)
    text = path.read_text()
    assert "lie in 2 areas far apart" in text
    assert len(re.findall(r'<img class="overview"', text)) == 2 and "north/far: Markers" in text


def test_the_report_title_names_what_the_model_looks_for_even_without_targets(tmp_path):
    empty = write_report_html(tmp_path / "empty.html", [], mission="M1", model_id="m",
                              classes=["poppy"]).read_text()
    found = write_report_html(tmp_path / "found.html", sample_targets(), mission="M1",
                              model_id="m", classes=["poppy"]).read_text()
    assert "<h1>Suspected poppy plots: mission M1</h1>" in empty
    assert "<h1>Suspected poppy plots: mission M1</h1>" in found
