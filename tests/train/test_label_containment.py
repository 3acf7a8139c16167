"""Finding 9 of issue 29: a label file's image paths (COCO file_name, Label Studio, VOC) must
resolve inside the images folder; one found outside it is never read."""

from __future__ import annotations

import json

import pytest

from poppyscan.errors import LabelError
from poppyscan.train.labels import read_labels
from tests.train.label_chips import make_chip

OUTSIDE = ("../secret/x.tif", "../../secret/x.tif", "{secret}/x.tif", "chips/../../secret/x.tif")


def _coco(name: str) -> str:
    return json.dumps({"images": [{"id": 1, "file_name": name, "width": 64, "height": 64}],
                       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                        "bbox": [3, 5, 10, 10]}],
                       "categories": [{"id": 1, "name": "poppy"}]})


def _labelstudio(name: str) -> str:
    value = {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0,
             "rectanglelabels": ["poppy"]}
    return json.dumps([{"data": {"image": f"/data/local-files/?d={name}"}, "annotations": [
        {"result": [{"id": "r", "type": "rectanglelabels", "from_name": "label",
                     "to_name": "image", "original_width": 64, "original_height": 64,
                     "value": value}]}]}])


def _voc(name: str) -> str:
    return (f"<annotation><filename>{name}</filename><size><width>64</width><height>64</height>"
            "<depth>3</depth></size><object><name>poppy</name><bndbox><xmin>3</xmin><ymin>5"
            "</ymin><xmax>13</xmax><ymax>15</ymax></bndbox></object></annotation>")


FORMATS = {"coco": (_coco, "labels.json"), "labelstudio": (_labelstudio, "tasks.json"),
           "voc": (_voc, "x.xml")}


@pytest.fixture
def layout(tmp_path):
    """work/labels/ (the label file), work/images/ (the images), secret/x.tif outside both."""
    secret = tmp_path / "secret" / "x.tif"
    make_chip(secret, seed=3)
    (tmp_path / "work" / "labels").mkdir(parents=True)
    (tmp_path / "work" / "images").mkdir()
    return tmp_path


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", OUTSIDE)
def test_an_image_path_outside_the_images_folder_is_refused(layout, fmt, name):
    write, file_name = FORMATS[fmt]
    name = name.format(secret=layout / "secret")
    label = layout / "work" / "labels" / file_name
    label.write_text(write(name))
    with pytest.raises(LabelError, match="lies outside the images folder") as err:
        read_labels(label, images_dir=layout / "work" / "images", format=fmt)
    assert str(err.value).startswith(f"{label}: image ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_file_of_that_name_inside_is_read_instead(layout, fmt):
    write, file_name = FORMATS[fmt]
    inside = layout / "work" / "images" / "x.tif"
    geo = make_chip(inside, origin=(700_000.0, 2_400_000.0), seed=4)
    label = layout / "work" / "labels" / file_name
    label.write_text(write("../../secret/x.tif"))
    labels = read_labels(label, images_dir=layout / "work" / "images", format=fmt)
    west, _, _, north = labels.geometries[0].bounds
    assert abs(west - geo.c) < 100 and abs(north - geo.f) < 100  # the inside image, not secret
