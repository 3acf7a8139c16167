"""Every pixel label format lands on the right map polygons (through the chip's transform)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
import shapely

from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import pixel_box_to_polygon, pixel_boxes_to_polygons
from poppyscan.train.labels import detect_format, read_labels
from poppyscan.train.labels.png import write_georeferenced_png
from poppyscan.train.labels.voc import read_voc
from tests.train.label_chips import FRACTIONAL_ORIGIN, SIZE_PX, make_chip, max_distance

BOXES_A = np.array([[3.0, 5.0, 20.0, 17.5], [30.25, 40.0, 60.0, 63.0]])
CLASSES_A = ["poppy", "other"]
BOXES_B = np.array([[0.0, 0.0, 64.0, 64.0], [10.5, 1.25, 11.5, 2.25]])
CLASSES_B = ["other", "poppy"]


@pytest.fixture()
def chips(tmp_path: Path) -> dict[str, tuple[Path, object]]:
    """Two chips: a.tif on a round origin, b.tif on a fractional one."""
    a = tmp_path / "chips" / "a.tif"
    b = tmp_path / "chips" / "b.tif"
    return {
        "a": (a, make_chip(a, seed=1)),
        "b": (b, make_chip(b, origin=FRACTIONAL_ORIGIN, seed=2)),
    }


def expected(chips, *names: str):
    boxes = {"a": BOXES_A, "b": BOXES_B}
    return np.concatenate([pixel_boxes_to_polygons(chips[n][1], boxes[n]) for n in names])


# ---- YOLO -----------------------------------------------------------------------------


def _yolo_line(index: int, box, size_px: int = SIZE_PX) -> str:
    x0, y0, x1, y1 = (float(v) for v in box)
    return f"{index} {(x0 + x1) / 2 / size_px!r} {(y0 + y1) / 2 / size_px!r} {(x1 - x0) / size_px!r} {(y1 - y0) / size_px!r}"


def _write_yolo(root: Path, chips) -> None:
    names = ["poppy", "other"]
    for stem, boxes, classes in (("a", BOXES_A, CLASSES_A), ("b", BOXES_B, CLASSES_B)):
        image = root / "images" / "train" / f"{stem}.tif"
        make_chip(
            image, origin=FRACTIONAL_ORIGIN if stem == "b" else (652_000.0, 2_300_000.0), seed=1
        )
        lines = [_yolo_line(names.index(c), b) for b, c in zip(boxes, classes, strict=True)]
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nnames:\n  0: poppy\n  1: other\n"
    )


def test_yolo_ultralytics_layout_lands_on_chip_pixels(tmp_path, chips):
    root = tmp_path / "yolo"
    _write_yolo(root, chips)
    assert detect_format(root) == "yolo"
    labels = read_labels(root)
    assert labels.classes == tuple(CLASSES_A + CLASSES_B)
    assert labels.crs.to_epsg() == 32647
    assert max_distance(labels.geometries, expected(chips, "a", "b")) < 1e-6


def test_yolo_single_file_with_class_names_argument(tmp_path, chips):
    root = tmp_path / "yolo"
    _write_yolo(root, chips)
    (root / "data.yaml").unlink()
    labels = read_labels(root / "labels" / "train" / "b.txt", class_names=["poppy", "other"])
    assert labels.classes == tuple(CLASSES_B)
    assert max_distance(labels.geometries, expected(chips, "b")) < 1e-6


def test_yolo_segmentation_line_is_a_polygon(tmp_path, chips):
    folder = tmp_path / "darknet"
    make_chip(folder / "a.tif", seed=1)
    (folder / "obj.names").write_text("poppy\n")
    # Triangle (8, 8), (40, 8), (8, 32) in pixels.
    (folder / "a.txt").write_text(f"0 {8 / 64} {8 / 64} {40 / 64} {8 / 64} {8 / 64} {32 / 64}\n")
    labels = read_labels(folder / "a.txt")
    t = chips["a"][1]
    triangle = shapely.Polygon([t @ (8, 8), t @ (40, 8), t @ (8, 32)])
    assert labels.classes == ("poppy",)
    assert max_distance(labels.geometries, [triangle]) < 1e-6


def test_yolo_unknown_class_index_names_file_and_line(tmp_path, chips):
    root = tmp_path / "yolo"
    _write_yolo(root, chips)
    bad = root / "labels" / "train" / "a.txt"
    bad.write_text("0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match=r"a\.txt: line 2: class index 7"):
        read_labels(root)


def test_yolo_without_class_names_is_an_error(tmp_path, chips):
    root = tmp_path / "yolo"
    _write_yolo(root, chips)
    (root / "data.yaml").unlink()
    with pytest.raises(LabelError, match="class_names"):
        read_labels(root)


# ---- COCO -----------------------------------------------------------------------------


def _coco(tmp_path: Path) -> dict:
    anns = []
    for i, (box, cls) in enumerate(zip(BOXES_A, CLASSES_A, strict=True)):
        x0, y0, x1, y1 = box
        anns.append(
            {
                "id": i,
                "image_id": 1,
                "category_id": 1 if cls == "poppy" else 2,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "iscrowd": 0,
            }
        )
    # A polygon on b.tif: the box (10.5, 1.25)-(11.5, 2.25) as a 4-point segmentation.
    anns.append(
        {
            "id": 9,
            "image_id": 2,
            "category_id": 1,
            "bbox": [0, 0, 1, 1],
            "segmentation": [[10.5, 1.25, 11.5, 1.25, 11.5, 2.25, 10.5, 2.25]],
        }
    )
    return {
        "images": [
            {"id": 1, "file_name": "chips/a.tif", "width": 64, "height": 64},
            {"id": 2, "file_name": "chips/b.tif", "width": 64, "height": 64},
        ],
        "annotations": anns,
        "categories": [{"id": 1, "name": "poppy"}, {"id": 2, "name": "other"}],
    }


def test_coco_bbox_and_segmentation(tmp_path, chips):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(_coco(tmp_path)))
    assert detect_format(path) == "coco"
    labels = read_labels(path)
    assert labels.classes == ("poppy", "other", "poppy")
    want = np.concatenate(
        [expected(chips, "a"), [pixel_box_to_polygon(chips["b"][1], 10.5, 1.25, 11.5, 2.25)]]
    )
    assert max_distance(labels.geometries, want) < 1e-6


def test_coco_unknown_category_and_wrong_size_are_errors(tmp_path, chips):
    data = _coco(tmp_path)
    data["annotations"][0]["category_id"] = 5
    path = tmp_path / "bad_cat.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelError, match=r"bad_cat\.json: annotation 0 has category_id 5"):
        read_labels(path)
    data = _coco(tmp_path)
    data["images"][0]["width"] = 128
    path = tmp_path / "bad_size.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelError, match=r"bad_size\.json: declares a\.tif as 128x64"):
        read_labels(path)


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(LabelError, match=r"broken\.json: not valid JSON"):
        read_labels(path)
    with pytest.raises(LabelError, match=r"broken\.json: not valid JSON"):
        read_labels(path, format="coco")


def test_missing_image_names_image_and_file(tmp_path, chips):
    data = _coco(tmp_path)
    data["images"][1]["file_name"] = "chips/nope.tif"
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelError, match=r"coco\.json: image 'chips/nope\.tif' not found"):
        read_labels(path)


# ---- Pascal VOC -----------------------------------------------------------------------


def _voc_xml(filename: str, boxes, classes, *, size: int = 64) -> str:
    objects = "".join(
        f"<object><name>{c}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for b, c in zip(boxes, classes, strict=True)
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size}</width>"
        f"<height>{size}</height><depth>3</depth></size>{objects}</annotation>"
    )


def test_voc_folder(tmp_path, chips):
    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "a.xml").write_text(_voc_xml("a.tif", BOXES_A, CLASSES_A))
    (folder / "b.xml").write_text(_voc_xml("b.tif", BOXES_B, CLASSES_B))
    assert detect_format(folder) == "voc"
    labels = read_labels(folder, images_dir=tmp_path / "chips")
    assert labels.classes == tuple(CLASSES_A + CLASSES_B)
    assert max_distance(labels.geometries, expected(chips, "a", "b")) < 1e-6


def test_voc_one_based_convention_shifts_min_corner(tmp_path, chips):
    path = tmp_path / "chips" / "a.xml"
    path.write_text(_voc_xml("a.tif", [[4, 6, 20, 17]], ["poppy"]))
    labels = read_voc(path, convention="one_based")
    want = [pixel_box_to_polygon(chips["a"][1], 3, 5, 20, 17)]
    assert max_distance(labels.geometries, want) < 1e-6
    with pytest.raises(ConfigError, match="corner, one_based"):
        read_voc(path, convention="zero")


def test_voc_refuses_entities(tmp_path, chips):
    path = tmp_path / "chips" / "evil.xml"
    path.write_text(
        '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _voc_xml("a.tif", [], [])
    )
    with pytest.raises(LabelError, match=r"evil\.xml: .*DOCTYPE"):
        read_labels(path)


# ---- Label Studio ---------------------------------------------------------------------


def _rect(box, cls, *, rotation=0.0, rid="r"):
    x0, y0, x1, y1 = box
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 64,
        "original_height": 64,
        "value": {
            "x": x0 / 64 * 100,
            "y": y0 / 64 * 100,
            "width": (x1 - x0) / 64 * 100,
            "height": (y1 - y0) / 64 * 100,
            "rotation": rotation,
            "rectanglelabels": [cls],
        },
    }


def test_labelstudio_rectangles_polygons_rotation_and_upload_paths(tmp_path, chips):
    tri = [
        [8 / 64 * 100, 8 / 64 * 100],
        [40 / 64 * 100, 8 / 64 * 100],
        [8 / 64 * 100, 32 / 64 * 100],
    ]
    tasks = [
        {
            "id": 1,
            "data": {"image": "/data/local-files/?d=chips/a.tif"},
            "annotations": [
                {"was_cancelled": True, "result": [_rect([0, 0, 64, 64], "junk")]},
                {"updated_at": "2024-01-01T10:00:00Z", "result": [_rect([0, 0, 5, 5], "old")]},
                {
                    "updated_at": "2024-02-01T10:00:00Z",
                    "result": [
                        _rect(b, c, rid=f"a{i}")
                        for i, (b, c) in enumerate(zip(BOXES_A, CLASSES_A, strict=True))
                    ],
                },
            ],
        },
        {
            "id": 2,
            "data": {"image": "/data/upload/3/1a2b3c4d-b.tif"},
            "annotations": [
                {
                    "result": [
                        _rect([10, 20, 30, 25], "poppy", rotation=90, rid="rot"),
                        {
                            "id": "p",
                            "type": "polygonlabels",
                            "value": {"points": tri, "polygonlabels": ["other"]},
                        },
                        {"id": "c", "type": "choices", "value": {"choices": ["ok"]}},
                    ]
                }
            ],
        },
        {
            "id": 3,
            "data": {"image": "/data/local-files/?d=chips/unlabelled.tif"},
            "annotations": [],
        },
    ]
    path = tmp_path / "export" / "project-1.json"
    path.parent.mkdir()
    path.write_text(json.dumps(tasks))
    assert detect_format(path) == "labelstudio"
    labels = read_labels(path, images_dir=tmp_path / "chips")
    assert labels.classes == ("poppy", "other", "poppy", "other")
    tb = chips["b"][1]
    # Rotating (10, 20) w=20 h=5 by 90 degrees clockwise about its top-left corner.
    rotated = pixel_box_to_polygon(tb, 10 - 5, 20, 10, 20 + 20)
    assert max_distance(labels.geometries[:2], expected(chips, "a")) < 1e-6
    assert max_distance(labels.geometries[2:3], [rotated]) < 1e-6
    triangle = shapely.Polygon([tb @ (8, 8), tb @ (40, 8), tb @ (8, 32)])
    assert max_distance(labels.geometries[3:], [triangle]) < 1e-6


def test_labelstudio_without_annotations_is_an_error(tmp_path, chips):
    path = tmp_path / "tasks.json"
    path.write_text(
        json.dumps(
            [
                {
                    "data": {"image": "chips/a.tif"},
                    "predictions": [{"result": [_rect(BOXES_A[0], "poppy")]}],
                }
            ]
        )
    )
    with pytest.raises(LabelError, match=r"tasks\.json: no task has annotations"):
        read_labels(path)


# ---- DeepForest CSV -------------------------------------------------------------------


def test_deepforest_csv_with_empty_image_row(tmp_path, chips):
    rows = ["image_path,xmin,ymin,xmax,ymax,label"]
    rows += [
        f"a.tif,{b[0]},{b[1]},{b[2]},{b[3]},{c}" for b, c in zip(BOXES_A, CLASSES_A, strict=True)
    ]
    rows += ["b.tif,0,0,0,0,"]
    path = tmp_path / "chips" / "boxes.csv"
    path.write_text("\n".join(rows) + "\n")
    labels = read_labels(path)
    assert labels.classes == tuple(CLASSES_A)
    assert max_distance(labels.geometries, expected(chips, "a")) < 1e-6


def test_real_osbs_deepforest_csv(real_dir):
    labels = read_labels(real_dir / "OSBS_029.csv")
    assert len(labels) == 61
    assert labels.class_names == ("Tree",)
    assert labels.crs.to_epsg() == 32617
    with rasterio.open(real_dir / "OSBS_029.tif") as src:
        first = pixel_box_to_polygon(src.transform, 203, 67, 227, 90)
    assert labels.geometries[0].equals_exact(first, 1e-6)
    # 24 x 23 px at 0.10 m.
    assert labels.geometries[0].area == pytest.approx(24 * 23 * 0.01)


def test_georeferenced_png_through_world_file(tmp_path, chips):
    png = write_georeferenced_png(chips["b"][0], tmp_path / "png" / "b.png")
    assert png.with_suffix(".pgw").is_file() and Path(f"{png}.aux.xml").is_file()
    (png.parent / "boxes.csv").write_text(
        "image_path,xmin,ymin,xmax,ymax,label\n"
        + "".join(
            f"b.png,{b[0]},{b[1]},{b[2]},{b[3]},{c}\n"
            for b, c in zip(BOXES_B, CLASSES_B, strict=True)
        )
    )
    labels = read_labels(png.parent / "boxes.csv")
    assert labels.crs.to_epsg() == 32647
    # World files hold 10 decimals: far below a pixel.
    assert max_distance(labels.geometries, expected(chips, "b")) < 1e-6


def test_non_georeferenced_image_names_the_image(tmp_path):
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), np.zeros((32, 32, 3), dtype="uint8"))
    path = tmp_path / "boxes.csv"
    path.write_text("image_path,xmin,ymin,xmax,ymax,label\nplain.png,1,1,5,5,poppy\n")
    with pytest.raises(LabelError, match=r"plain\.png: image has no georeferencing"):
        read_labels(path)


def test_unknown_format_lists_choices(tmp_path):
    with pytest.raises(ConfigError, match="auto, ogr, yolo, coco, voc, labelstudio, deepforest"):
        read_labels(tmp_path, format="kml")
