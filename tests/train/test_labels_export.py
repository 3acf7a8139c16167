"""Round trip through labelling tools: write chips + pre-annotations, read the tools' exports back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from poppyscan.errors import ConfigError, LabelError
from poppyscan.tiles.geometry import pixel_box_to_polygon, pixel_boxes_to_polygons
from poppyscan.train.labels import (
    ChipBoxes,
    LabelSet,
    boxes_from_labels,
    export_chips,
    read_labels,
    write_labelstudio_tasks,
    write_yolo_layout,
)
from poppyscan.train.labels.labelstudio import read_labelstudio
from tests.train.label_chips import FRACTIONAL_ORIGIN, GSD_M, make_chip, max_distance

BOXES = {
    "a": np.array([[3.0, 5.0, 20.0, 17.5], [30.25, 40.0, 60.0, 63.0]]),
    "b": np.array(
        [[10.5, 1.25, 11.5, 2.25], [-2.0, 50.0, 8.0, 70.0]]
    ),  # second one pokes out: clipped
}
CLASSES = {"a": ["poppy", "other"], "b": ["other", "poppy"]}
SCORES = {"a": np.array([0.9, 0.4]), "b": np.array([0.75, 0.5])}


@pytest.fixture()
def chips(tmp_path: Path) -> list[ChipBoxes]:
    a, b = tmp_path / "chips" / "a.tif", tmp_path / "chips" / "b.tif"
    make_chip(a, seed=1)
    make_chip(b, origin=FRACTIONAL_ORIGIN, seed=2)
    return [ChipBoxes(p, BOXES[k], CLASSES[k], SCORES[k]) for k, p in (("a", a), ("b", b))]


def _expected(chips: list[ChipBoxes]) -> np.ndarray:
    out = []
    for chip in chips:
        with rasterio.open(chip.image_path) as src:
            out.append(pixel_boxes_to_polygons(src.transform, np.clip(chip.boxes_px, 0, 64)))
    return np.concatenate(out)


def test_labelstudio_tasks_carry_percent_predictions_and_georeferenced_pngs(tmp_path, chips):
    out = tmp_path / "ls"
    tasks_path = export_chips(
        chips, out, format="labelstudio", class_names=["poppy", "other"], model_version="m1"
    )
    tasks = json.loads(tasks_path.read_text())
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=images/a.png",
        "/data/local-files/?d=images/b.png",
    ]
    prediction = tasks[0]["predictions"][0]
    assert prediction["model_version"] == "m1"
    assert prediction["score"] == pytest.approx(0.65)
    value = prediction["result"][0]["value"]
    assert value["rectanglelabels"] == ["poppy"] and value["rotation"] == 0
    assert [value[k] for k in ("x", "y", "width", "height")] == pytest.approx(
        [3 / 64 * 100, 5 / 64 * 100, 17 / 64 * 100, 12.5 / 64 * 100], abs=1e-12
    )
    assert prediction["result"][1]["score"] == 0.4
    # The clipped box of b: x from 0, height to the chip's bottom edge.
    assert tasks[1]["predictions"][0]["result"][1]["value"]["x"] == 0
    assert tasks[1]["predictions"][0]["result"][1]["value"]["height"] == pytest.approx(
        14 / 64 * 100
    )
    config = (out / "labeling_config.xml").read_text()
    assert (
        '<RectangleLabels name="label" toName="image">' in config
        and '<Label value="other" />' in config
    )
    for chip in chips:
        png = out / "images" / f"{chip.image_path.stem}.png"
        assert png.with_suffix(".pgw").is_file() and Path(f"{png}.aux.xml").is_file()
        with rasterio.open(chip.image_path) as src, rasterio.open(png) as dst:
            assert dst.crs == src.crs
            assert dst.transform.almost_equals(src.transform, precision=1e-9)
            assert np.array_equal(dst.read(), src.read())
    # The tasks themselves read back as predictions.
    preds = read_labelstudio(tasks_path, kind="predictions")
    assert max_distance(preds.geometries, _expected(chips)) < 1e-6


def test_labelstudio_export_reads_back_onto_the_chip_pixels(tmp_path, chips):
    out = tmp_path / "ls"
    tasks_path = write_labelstudio_tasks(chips, out / "tasks.json", class_names=["poppy", "other"])
    # What Label Studio exports after analysts accept the pre-annotations, saved elsewhere.
    tasks = json.loads(tasks_path.read_text())
    for i, task in enumerate(tasks):
        task["id"] = i + 1
        task["annotations"] = [
            {"id": i, "result": task.pop("predictions")[0]["result"], "was_cancelled": False}
        ]
    export = tmp_path / "downloads" / "project-1-at-2024.json"
    export.parent.mkdir()
    export.write_text(json.dumps(tasks))
    labels = read_labels(export, images_dir=out)
    assert labels.classes == ("poppy", "other", "other", "poppy")
    assert labels.crs.to_epsg() == 32647
    assert max_distance(labels.geometries, _expected(chips)) < 1e-6


def test_yolo_layout_round_trip_within_half_a_pixel(tmp_path, chips):
    out = tmp_path / "cvat"
    data_yaml = write_yolo_layout(chips, out, class_names=["poppy", "other"])
    assert yaml.safe_load(data_yaml.read_text()) == {
        "path": "./",
        "train": "train.txt",
        "names": {0: "poppy", 1: "other"},
    }
    assert (out / "train.txt").read_text() == "images/train/a.png\nimages/train/b.png\n"
    assert (out / "labels" / "train" / "a.txt").read_text().splitlines()[
        0
    ] == "0 0.179688 0.175781 0.265625 0.195312"
    labels = read_labels(out)
    assert labels.classes == ("poppy", "other", "other", "poppy")
    error_m = max_distance(labels.geometries, _expected(chips))
    assert error_m < 0.5 * GSD_M
    assert error_m < 1e-5  # 6 decimals of a 64 px chip: < 1e-4 px


def test_cvat_export_without_world_files_uses_images_dir(tmp_path, chips):
    out = tmp_path / "layout"
    write_yolo_layout(chips, out, class_names=["poppy", "other"])
    # CVAT's export: same names, labels edited, images without their sidecars.
    cvat = tmp_path / "cvat_export"
    shutil.copytree(out / "labels", cvat / "labels")
    (cvat / "images" / "train").mkdir(parents=True)
    for png in (out / "images" / "train").glob("*.png"):
        shutil.copy(png, cvat / "images" / "train" / png.name)
    shutil.copy(out / "data.yaml", cvat / "data.yaml")
    (cvat / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.25 0.125\n")
    with pytest.raises(LabelError, match=r"a\.png: image has no georeferencing"):
        read_labels(cvat)
    labels = read_labels(cvat, images_dir=out / "images" / "train")
    with rasterio.open(chips[0].image_path) as src:
        want = pixel_box_to_polygon(src.transform, 24, 28, 40, 36)
    assert labels.classes[0] == "other"
    assert labels.geometries[0].equals_exact(want, 1e-6)


def test_boxes_from_labels_clips_to_each_chip(tmp_path, chips):
    with rasterio.open(chips[0].image_path) as src:
        t = src.transform
    plots = pixel_boxes_to_polygons(
        t,
        np.array(
            [[10.0, 10.0, 20.0, 30.0], [50.0, 60.0, 80.0, 70.0], [100.0, 100.0, 110.0, 110.0]]
        ),
    )
    labels = LabelSet(plots, ("poppy", "other", "poppy"), "EPSG:32647", "plots").to_crs("EPSG:4326")
    result = boxes_from_labels(labels, [c.image_path for c in chips])
    assert [c.image_path for c in result] == [c.image_path for c in chips]
    a = result[0]
    assert a.classes == ["poppy", "other"] and a.scores is None
    np.testing.assert_allclose(a.boxes_px, [[10, 10, 20, 30], [50, 60, 64, 64]], atol=1e-6)
    assert len(result[1].classes) == 0  # b lies 3 m east: nothing on it


def test_export_validates_before_writing(tmp_path, chips):
    bad = [chips[0]._replace(classes=["poppy", "weed"])]
    with pytest.raises(ConfigError, match=r"classes \['weed'\] not in class names"):
        write_yolo_layout(bad, tmp_path / "out", class_names=["poppy", "other"])
    twin = tmp_path / "elsewhere" / "a.tif"
    make_chip(twin)
    with pytest.raises(ConfigError, match="chip names must be unique"):
        write_yolo_layout(
            [chips[0], chips[0]._replace(image_path=twin)],
            tmp_path / "out",
            class_names=["poppy", "other"],
        )
    with pytest.raises(ConfigError, match="labelstudio, yolo"):
        export_chips(chips, tmp_path / "out", format="cvat", class_names=["poppy"])
    assert not (tmp_path / "out").exists()


def test_non_8bit_chip_is_refused(tmp_path):
    chip = tmp_path / "c16.tif"
    with rasterio.open(
        chip,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=3,
        dtype="uint16",
        crs="EPSG:32647",
        transform=rasterio.transform.from_origin(652_000, 2_300_000, GSD_M, GSD_M),
    ) as dst:
        dst.write(np.zeros((3, 8, 8), dtype="uint16"))
    with pytest.raises(LabelError, match=r"c16\.tif: chip is uint16"):
        write_yolo_layout([ChipBoxes(chip, [], [])], tmp_path / "out", class_names=["poppy"])
