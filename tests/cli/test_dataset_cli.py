"""`poppyscan dataset build --hard-negatives`: look-alikes and field verdicts as empty chips."""

from __future__ import annotations

import json

import shapely
from click.testing import CliRunner
from pyogrio.raw import write as ogr_write

from poppyscan.cli.main import cli
from poppyscan.train.labels.ogr import read_geometries
from tests.train.loop import synthetic_survey


def test_hard_negatives_add_the_empty_chips_that_hold_them(tmp_path):
    survey = synthetic_survey(tmp_path / "survey")
    common = ["dataset", "build", "--ortho", str(survey.ortho_path), "--labels",
              str(survey.plots_path), "--gsd", "0.1", "--tile-px", "128", "--overlap-px", "32",
              "--negative-ratio", "0", "--workers", "2"]
    runner = CliRunner()
    plain = runner.invoke(cli, [*common, "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    hard = runner.invoke(cli, [*common, "--out", str(tmp_path / "hard"),
                               "--hard-negatives", str(survey.ortho_path.parent / "distractors.geojson")])
    assert hard.exit_code == 0, hard.output
    before = json.loads((tmp_path / "plain" / "summary.json").read_text())
    after = json.loads((tmp_path / "hard" / "summary.json").read_text())
    negatives = sum(s["negative"] for s in after["splits"].values())
    assert sum(s["negative"] for s in before["splits"].values()) == 0
    assert negatives == after["counts"]["hard_negative_chips"] > 0
    assert [s["positive"] for s in after["splits"].values()] == [
        s["positive"] for s in before["splits"].values()]
    assert f"hard negatives: {negatives} empty chips kept" in hard.output

    # A two-layer GeoPackage like detect's targets.gpkg: the layer must be named.
    geoms, crs = read_geometries(survey.ortho_path.parent / "distractors.geojson")
    gpkg = tmp_path / "verdicts.gpkg"
    ogr_write(str(gpkg), shapely.to_wkb(shapely.centroid(geoms)), [], [], layer="targets",
              geometry_type="Point", crs=crs, driver="GPKG")
    ogr_write(str(gpkg), shapely.to_wkb(geoms), [], [], layer="plots", geometry_type="Polygon",
              crs=crs, driver="GPKG")
    unnamed = runner.invoke(cli, [*common, "--out", str(tmp_path / "gpkg"), "--hard-negatives",
                                  str(gpkg)])
    assert unnamed.exit_code == 2 and "choose one with layer= / --hard-negatives-layer" in unnamed.output
    for layer in ("targets", "plots"):
        named = runner.invoke(cli, [*common, "--out", str(tmp_path / layer), "--hard-negatives",
                                    str(gpkg), "--hard-negatives-layer", layer])
        assert named.exit_code == 0, named.output
    counts = {layer: json.loads((tmp_path / layer / "summary.json").read_text())["counts"]
              for layer in ("targets", "plots")}
    assert counts["targets"]["hard_negatives_in"] == counts["plots"]["hard_negatives_in"] == len(geoms)
    # The polygons reach the same chips as the GeoJSON they came from; their centroids fewer.
    assert counts["plots"]["hard_negative_chips"] == after["counts"]["hard_negative_chips"]
    assert counts["targets"]["hard_negative_chips"] <= counts["plots"]["hard_negative_chips"]

    not_vector = runner.invoke(cli, [*common, "--out", str(tmp_path / "bad"),
                                     "--hard-negatives", str(tmp_path / "plain" / "data.yaml")])
    assert not_vector.exit_code == 2 and "cannot read as a vector file" in not_vector.output
    assert not_vector.output.strip().count("\n") == 0
    assert not (tmp_path / "bad" / "data.yaml").exists()


def test_class_map_renames_classes_at_import_and_build(real_dir, tmp_path):
    runner = CliRunner()
    imported = runner.invoke(cli, ["labels", "import", str(real_dir / "OSBS_029.csv"), "--out",
                                   str(tmp_path / "crowns.gpkg"), "--class-map", "Tree=crown"])
    assert imported.exit_code == 0, imported.output
    assert "(crown: 61)" in imported.output
    built = runner.invoke(cli, ["dataset", "build", "--ortho", str(real_dir / "OSBS_029.tif"),
                                "--labels", str(real_dir / "OSBS_029.csv"), "--out", str(tmp_path / "ds"),
                                "--gsd", "0.1", "--tile-px", "128", "--overlap-px", "32",
                                "--class-map", "Tree=tree"])
    assert built.exit_code == 0, built.output
    assert json.loads((tmp_path / "ds" / "summary.json").read_text())["class_names"] == ["tree"]
    bad = runner.invoke(cli, ["labels", "import", str(real_dir / "OSBS_029.csv"), "--out",
                              str(tmp_path / "x.gpkg"), "--class-map", "Tree"])
    assert bad.exit_code == 2 and "expected SRC=DST" in bad.output


def test_labels_without_a_class_need_one_named(real_dir, tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["labels", "import", str(real_dir / "OSBS_029.csv"), "--out",
                        str(tmp_path / "crowns.gpkg")])
    geoms, crs = read_geometries(tmp_path / "crowns.gpkg")
    bare = tmp_path / "bare.gpkg"
    ogr_write(str(bare), shapely.to_wkb(geoms), [], [], layer="plots", geometry_type="Polygon",
              crs=crs, driver="GPKG")
    common = ["dataset", "build", "--ortho", str(real_dir / "OSBS_029.tif"), "--labels", str(bare),
              "--gsd", "0.1", "--tile-px", "128", "--overlap-px", "32"]
    refused = runner.invoke(cli, [*common, "--out", str(tmp_path / "a")])
    assert refused.exit_code == 2 and "class" in refused.output and "Traceback" not in refused.output
    named = runner.invoke(cli, [*common, "--out", str(tmp_path / "b"), "--class", "crown"])
    assert named.exit_code == 0, named.output
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["class_names"] == ["crown"]


def test_negative_only_sources_add_only_background_chips(tmp_path, real_dir):
    from poppyscan.tiles import iter_chips
    from tests.train.loop import GRID

    survey = synthetic_survey(tmp_path / "survey")
    common = ["dataset", "build", "--ortho", str(survey.ortho_path), "--labels",
              str(survey.plots_path), "--gsd", "0.1", "--tile-px", "128", "--overlap-px", "32",
              "--negative-ratio", "0.5", "--workers", "2"]
    real = [real_dir / "SJER_477.tif", real_dir / "OSBS_029.tif"]  # 0.1 m, UTM 11N and 17N
    runner = CliRunner()
    plain = runner.invoke(cli, [*common, "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    args = [a for path in real for a in ("--negatives-from", str(path))]
    result = runner.invoke(cli, [*common, "--out", str(tmp_path / "neg"), *args])
    assert result.exit_code == 0, result.output

    before = json.loads((tmp_path / "plain" / "summary.json").read_text())
    after = json.loads((tmp_path / "neg" / "summary.json").read_text())
    n_real = sum(1 for _ in iter_chips(real, GRID, workers=1))  # every non-collar chip
    assert after["counts"]["negatives_from_chips"] == n_real == 32  # 4 x 4 chips each
    label_files = sorted((tmp_path / "neg" / "labels" / "train").glob("neg-*.txt"))
    assert len(label_files) == n_real and all(f.read_text() == "" for f in label_files)
    assert {f.name.split("_r")[0] for f in label_files} == {"neg-SJER_477", "neg-OSBS_029"}
    assert not list((tmp_path / "neg" / "labels").glob("[vt][ae]*/neg-*"))  # train split only
    # The labelled sources' chips are untouched: same positives, same drawn negatives.
    for split in ("train", "val", "test"):
        extra = n_real if split == "train" else 0
        assert after["splits"][split]["positive"] == before["splits"][split]["positive"]
        assert after["splits"][split]["negative"] == before["splits"][split]["negative"] + extra
        assert after["splits"][split]["labels"] == before["splits"][split]["labels"]
    assert after["options"]["negatives_from"] == ["SJER_477.tif", "OSBS_029.tif"]
    assert after["sources"] == before["sources"]
    assert (f"real negatives: {n_real} background chips (train split) from 2 poppy-free "
            "orthomosaics; 0 collar chips skipped") in result.output

    both = runner.invoke(cli, [*common, "--out", str(tmp_path / "both"), "--negatives-from",
                               str(survey.ortho_path)])
    assert both.exit_code != 0
    assert "given both as a labelled orthomosaic and as a negative-only source" in both.output
