"""`poppyscan labels import|export`, in process."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import rasterio
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.tiles.geometry import pixel_box_to_polygon, pixel_boxes_to_polygons
from poppyscan.train.labels import LabelSet, read_labels
from tests.train.label_chips import FRACTIONAL_ORIGIN, make_chip, max_distance


def test_cli_format_choices_match_the_library():
    from poppyscan.cli import labels as cli_labels
    from poppyscan.train.labels import EXPORT_FORMATS, LABEL_FORMATS

    assert cli_labels.IMPORT_FORMATS == LABEL_FORMATS
    assert cli_labels.EXPORT_FORMATS == EXPORT_FORMATS


def test_import_deepforest_csv_writes_georeferenced_gpkg(real_dir, tmp_path):
    out = tmp_path / "osbs.gpkg"
    args = ["labels", "import", str(real_dir / "OSBS_029.csv"), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Imported 61 labels (Tree: 61)" in result.output
    info = pyogrio.read_info(out)
    assert info["features"] == 61 and info["crs"] == "EPSG:32617"
    labels = read_labels(out)
    with rasterio.open(real_dir / "OSBS_029.tif") as src:
        assert labels.geometries[0].equals_exact(
            pixel_box_to_polygon(src.transform, 203, 67, 227, 90), 1e-6
        )

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_import_bad_inputs_are_one_line_and_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    result = CliRunner().invoke(
        cli, ["labels", "import", str(broken), "--out", str(tmp_path / "o.gpkg")]
    )
    assert result.exit_code == 2
    assert "broken.json: not valid JSON" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        cli, ["labels", "import", str(broken), "--out", str(tmp_path / "o.shp")]
    )
    assert result.exit_code == 2 and ".gpkg or .geojson" in result.output
    result = CliRunner().invoke(
        cli, ["labels", "import", str(broken), "--out", str(tmp_path / "o.gpkg"), "--format", "kml"]
    )
    assert result.exit_code == 2 and "labelstudio" in result.output


def test_export_then_import_round_trip(tmp_path):
    chips = tmp_path / "chips"
    ta = make_chip(chips / "a.tif", seed=1)
    make_chip(chips / "b.tif", origin=FRACTIONAL_ORIGIN, seed=2)
    plots = pixel_boxes_to_polygons(
        ta, np.array([[10.0, 10.0, 20.0, 30.0], [50.0, 60.0, 80.0, 70.0]])
    )
    LabelSet(plots, ("poppy", "other"), "EPSG:32647", "t").to_crs("EPSG:4326").write(
        tmp_path / "plots.geojson"
    )

    out = tmp_path / "cvat"
    args = ["labels", "export", "--chips", str(chips), "--out", str(out), "--format", "yolo",
            "--labels", str(tmp_path / "plots.geojson")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Exported 2 chips with 2 pre-annotations (yolo)" in result.output
    result = CliRunner().invoke(
        cli, ["labels", "import", str(out), "--out", str(tmp_path / "back.gpkg")]
    )
    assert result.exit_code == 0, result.output
    back = read_labels(tmp_path / "back.gpkg")
    assert back.class_names == ("other", "poppy")
    # Classes are indexed in sorted order; the second plot is clipped at the chip edge.
    want = pixel_boxes_to_polygons(
        ta, np.array([[10.0, 10.0, 20.0, 30.0], [50.0, 60.0, 64.0, 64.0]])
    )
    order = [back.classes.index("poppy"), back.classes.index("other")]
    assert max_distance(back.geometries[order], want) < 1e-5

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output

    ls = tmp_path / "ls"
    result = CliRunner().invoke(cli, ["labels", "export", "--chips", str(chips), "--out", str(ls),
                                      "--format", "labelstudio", "--class-names", "poppy,other"])
    assert result.exit_code == 0, result.output
    tasks = json.loads((ls / "tasks.json").read_text())
    assert len(tasks) == 2 and tasks[0]["predictions"][0]["result"] == []
    assert (ls / "images" / "b.png").is_file() and (ls / "images" / "b.pgw").is_file()


def test_labelstudio_pre_annotations_read_back_with_predictions(tmp_path):
    chips = tmp_path / "chips"
    ta = make_chip(chips / "a.tif", seed=1)
    plot = pixel_boxes_to_polygons(ta, np.array([[10.0, 12.0, 30.0, 40.0]]))
    LabelSet(plot, ("poppy",), "EPSG:32647", "t").write(tmp_path / "plots.geojson")
    ls, back = tmp_path / "ls", tmp_path / "back.gpkg"
    exported = CliRunner().invoke(cli, ["labels", "export", "--chips", str(chips), "--out", str(ls),
                                        "--format", "labelstudio", "--labels",
                                        str(tmp_path / "plots.geojson")])
    assert exported.exit_code == 0, exported.output
    unlabelled = CliRunner().invoke(cli, ["labels", "import", str(ls / "tasks.json"),
                                          "--out", str(back)])
    assert unlabelled.exit_code == 2 and "--predictions" in unlabelled.output
    result = CliRunner().invoke(cli, ["labels", "import", str(ls / "tasks.json"), "--out",
                                      str(back), "--predictions"])
    assert result.exit_code == 0, result.output
    assert max_distance(read_labels(back).geometries, plot) < 1e-5
