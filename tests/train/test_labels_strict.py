"""Wrong-but-plausible label files are errors naming the file, never a silent guess."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.errors import LabelError
from poppyscan.train.labels import read_labels
from tests.train.label_chips import make_chip
from tests.train.test_labels_fuzz import BASES, FORMATS


@pytest.fixture
def folder(tmp_path) -> Path:
    make_chip(tmp_path / "chip.tif")
    (tmp_path / "classes.txt").write_text("poppy\nother\n")
    return tmp_path


def write(folder: Path, name: str, change=None) -> Path:
    """The fuzz test's valid ``name`` file, after ``change(data)`` edits a copy in place."""
    file_name, base = BASES[name]
    data = copy.deepcopy(base)
    if isinstance(data, str) and change is not None:
        data = change(data)
    elif change is not None:
        change(data)
    path = folder / file_name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def read(path: Path, name: str, **kwargs):
    return read_labels(path, format=FORMATS[name], **kwargs)


def _first_region(data):
    return data[0]["annotations"][0]["result"][0]["value"]


def test_labelstudio_string_where_a_list_belongs_is_an_error(folder):
    path = write(folder, "labelstudio",
                 lambda d: _first_region(d).update(rectanglelabels="Tree"))
    with pytest.raises(LabelError, match=r"tasks\.json: task 7 region r1 labels are the string "
                                         r"'Tree'; Label Studio writes a list such as \['Tree'\]"):
        read(path, "labelstudio")


def test_labelstudio_region_with_two_labels_is_an_error(folder):
    path = write(folder, "labelstudio",
                 lambda d: _first_region(d).update(rectanglelabels=["poppy", "other"]))
    with pytest.raises(LabelError, match="region r1 has 2 labels"):
        read(path, "labelstudio")


def test_geojson_of_projected_numbers_without_crs_is_an_error(folder):
    path = write(folder, "geojson_utm", lambda d: d.pop("crs"))
    with pytest.raises(LabelError, match=r"plots_utm\.geojson: coordinates reach 652002, "
                                         r"2\.3e\+06, which are not degrees"):
        read(path, "geojson_utm")
    assert read(write(folder, "geojson_utm"), "geojson_utm").crs.to_epsg() == 32647


@pytest.mark.parametrize("name, change, message", [
    ("yolo", lambda t: t.replace("0.1 0.15", "0 0.15"), r"chip\.txt: line 1 box has width 0 "),
    ("yolo", lambda t: t.replace("0.1 0.15", "0.1 -0.15"), "height -0.15; both must be > 0"),
    ("coco", lambda d: d["annotations"][0].update(bbox=[3, 5, 0, 12]), "annotation 1.bbox has width 0"),
    ("coco", lambda d: d["annotations"][0].update(bbox=[3, 5, 4, -2]), "height -2"),
    ("voc", lambda t: t.replace("<xmax>20</xmax>", "<xmax>3</xmax>"), r"chip\.xml: object 0 bndbox is empty"),
    ("deepforest", lambda t: t.replace("3,5,20,17.5", "20,5,3,17.5"), r"boxes\.csv: line 2 box has width -17"),
    ("deepforest", lambda t: t.replace("3,5,20,17.5", "3,5,3,17.5"), "line 2 box has width 0"),
])
def test_boxes_without_size_are_errors(folder, name, change, message):
    with pytest.raises(LabelError, match=message):
        read(write(folder, name, change), name)


def test_zero_area_polygons_are_errors(folder):
    flat = [30, 40, 40, 40, 50, 40]  # three corners on a line
    path = write(folder, "coco", lambda d: d["annotations"][1].update(segmentation=[flat]))
    with pytest.raises(LabelError, match=r"labels\.json: a 'other' polygon on chip\.tif has no area"):
        read(path, "coco")
    flat_square = [[[100.4, 20.7], [100.5, 20.7], [100.6, 20.7], [100.4, 20.7]]]
    path = write(folder, "geojson",
                 lambda d: d["features"][0]["geometry"].update(coordinates=flat_square))
    with pytest.raises(LabelError, match=r"plots\.geojson: feature 0 is a polygon without area"):
        read(path, "geojson")


def test_yolo_pixel_coordinates_are_an_error(folder):
    path = write(folder, "yolo", lambda t: t.replace("0 0.2 0.3 0.1 0.15", "0 12.8 19.2 6.4 9.6"))
    with pytest.raises(LabelError, match=r"line 1: coordinates must be fractions .*found 19\.2"):
        read(path, "yolo")


def test_geojson_geometry_gdal_drops_is_an_error(folder):
    path = write(folder, "geojson",
                 lambda d: d["features"][1]["geometry"].update(coordinates={"value": 1}))
    with pytest.raises(LabelError, match=r"plots\.geojson: GDAL could not read a feature's geometry"):
        read(path, "geojson")


@pytest.mark.parametrize("name, change, what", [
    ("labelstudio", lambda d: _first_region(d).pop("rectanglelabels"), "task 7 region r1"),
    ("deepforest", lambda t: t.replace("17.5,poppy", "17.5,"), "line 2"),
    ("geojson", lambda d: d["features"][0]["properties"].clear(), r"feature 0 \(label field\)"),
])
def test_labels_without_a_class_need_an_explicit_default(folder, name, change, what):
    path = write(folder, name, change)
    with pytest.raises(LabelError, match=f"{what} has no class; give one with default_class="):
        read(path, name)
    assert "field" in read(path, name, default_class="field").classes


def test_cli_import_takes_the_default_class_explicitly(folder):
    path = write(folder, "geojson", lambda d: [f["properties"].clear() for f in d["features"]])
    out = folder / "out.gpkg"
    result = CliRunner().invoke(cli, ["labels", "import", str(path), "--out", str(out)])
    assert result.exit_code != 0 and "--default-class" in result.output
    assert "Traceback" not in result.output and not out.exists()
    result = CliRunner().invoke(cli, ["labels", "import", str(path), "--out", str(out),
                                      "--default-class", "poppy"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 labels (poppy: 2)" in result.output
