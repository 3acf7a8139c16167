"""``poppyscan detect`` over folders with a few bad files, and with a registry.

The model is :class:`tests.detect.marks.MarkPredictor` behind the real
command (the bundle's predictor is swapped), so the targets are the rasters'
red marks exactly.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from poppyscan.cli.main import cli
from tests.detect.marks import MarkPredictor, make_marked_raster

MARKS = [(40, 40, 70, 70), (300, 200, 330, 230)]


class Marks(MarkPredictor):
    device, backend, precision = "cpu", "torch", "f32"


@pytest.fixture
def marks_model(monkeypatch):
    from poppyscan.detect.bundle import ModelBundle

    monkeypatch.setattr(ModelBundle, "predictor", lambda self, *a, **k: Marks())


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two good flights, one raster 20x coarser than the model, one file that is no raster."""
    root = tmp_path / "mission-north"
    root.mkdir()
    make_marked_raster(root / "a.tif", (512, 384), MARKS)
    make_marked_raster(root / "b.tif", (512, 384), MARKS, origin=(500_100.0, 2_000_000.0))
    make_marked_raster(root / "coarse.tif", (64, 64), [], gsd_m=1.0)
    (root / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 60)
    return root


def _detect(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["detect", *map(str, args)])
    return result.exit_code, result.output


def test_a_folder_with_unusable_files_names_them_all_in_one_line(
        folder, untrained_bundle, marks_model, tmp_path):
    code, out = _detect(folder, "--out", tmp_path / "out", "--model", untrained_bundle.path)
    assert code != 0 and "Traceback" not in out
    (line,) = [x for x in out.splitlines() if "unusable" in x]
    assert "2 of 4 orthomosaics are unusable (--skip-unusable runs the rest)" in line
    assert "broken.tif" in line and "coarse.tif" in line and "times coarser" in line
    assert not (tmp_path / "out" / "run.json").exists()


def test_skip_unusable_runs_the_rest_and_lists_the_skipped(
        folder, untrained_bundle, marks_model, tmp_path):
    out_dir = tmp_path / "out"
    code, out = _detect(folder, "--out", out_dir, "--model", untrained_bundle.path,
                        "--skip-unusable")
    assert code == 0, out
    assert re.search(r"^4 targets in \d+ chips read", out, re.M)  # 2 marks x 2 good flights
    assert "skipped" in out and "coarse.tif" in out
    manifest = json.loads((out_dir / "run.json").read_text())
    skipped = {Path(s["path"]).name: s["reason"] for s in manifest["extra"]["skipped"]}
    assert set(skipped) == {"broken.tif", "coarse.tif"}
    assert "times coarser" in skipped["coarse.tif"]
    assert [Path(i["path"]).name for i in manifest["inputs"]] == ["a.tif", "b.tif"]
    assert manifest["settings"]["mission"] == "mission-north"  # the folder, not the first file
    report = (out_dir / "report.html").read_text()
    assert "Files skipped (2)" in report
    for name, reason in skipped.items():
        assert name in report and html.escape(reason) in report


def test_max_gsd_ratio_is_a_flag(folder, untrained_bundle, marks_model, tmp_path):
    (folder / "broken.tif").unlink()
    code, out = _detect(folder, "--out", tmp_path / "out", "--model", untrained_bundle.path,
                        "--max-gsd-ratio", "25")
    assert code == 0, out
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert len(manifest["inputs"]) == 3 and "skipped" not in manifest["extra"]


def test_detect_with_a_registry_names_targets_by_the_registry(
        folder, untrained_bundle, marks_model, tmp_path):
    registry = tmp_path / "north.gpkg"
    for name in ("coarse.tif", "broken.tif", "b.tif"):
        (folder / name).unlink()
    code, out = _detect(folder, "--out", tmp_path / "one", "--model", untrained_bundle.path,
                        "--registry", registry, "--mission", "M7")
    assert code == 0, out
    code, out = _detect(folder, "--out", tmp_path / "two", "--model", untrained_bundle.path,
                        "--registry", registry, "--mission", "M8")
    assert code == 0, out
    for run in ("one", "two"):
        features = json.loads((tmp_path / run / "targets.geojson").read_text())["features"]
        assert [f["properties"]["target_id"] for f in features] == ["NORTH-00001", "NORTH-00002"]
        assert {p.name for p in (tmp_path / run / "thumbs").iterdir()} == {
            "NORTH-00001.jpg", "NORTH-00002.jpg"}
    assert [f["properties"]["run_target_id"] for f in features] == ["M8-0001", "M8-0002"]


def test_demo_without_overwrite_refuses_before_making_the_survey(tmp_path):
    targets = tmp_path / "demo-out" / "targets"
    targets.mkdir(parents=True)
    (targets / "run.json").write_text("{}")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo-out")])
    assert result.exit_code != 0 and "pass --overwrite" in result.output
    assert not (tmp_path / "demo-out" / "survey").exists()  # refused before generating it


def test_progress_shows_bytes_as_megabytes(capsys):
    from poppyscan.cli.options import ProgressBar

    progress = ProgressBar("upload a.tif", unit="bytes", plain=True)
    progress.start(2_000_000)
    progress.advance(1_500_000)
    progress._line()
    assert re.search(r"^upload a\.tif: 1\.5/2\.0 MB, [\d,]+\.\d MB/s", capsys.readouterr().err)


def test_model_info_prints_no_line_longer_than_a_terminal_page():
    result = CliRunner().invoke(cli, ["model", "info"])
    assert result.exit_code == 0 and "metrics:" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 160


def test_progress_bar_redraws_one_line_on_a_terminal(capsys):
    from poppyscan.cli.options import ProgressBar

    with ProgressBar("detect", plain=False) as progress:
        progress.start(10)
        progress.source("f1/ortho", 1, 1)
        progress.advance(10)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")  # redrawn in place, one line left
    assert re.search(r"\rdetect f1/ortho \(1/1\) .*10/10 chips, [\d,.]+ chips/s", err)
