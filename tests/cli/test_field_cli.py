"""The field loop by command line: two flights, package, verdicts back, status, a dataset."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from poppyscan.cli.main import cli
from tests.field.flights import make_flight, publish_run


@pytest.fixture(scope="module")
def flights(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    a = make_flight(root / "a.tif", gsd_m=0.05)
    b = make_flight(root / "b.tif", gsd_m=0.08, offset_m=(1.5, -1.0))
    runs = [publish_run([a], root / "run-a", mission="M1", created_at="2026-03-01T08:00:00Z"),
            publish_run([b], root / "run-b", mission="M2", created_at="2026-03-10T08:00:00Z")]
    return root, a, runs


def _run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_field_loop_by_command_line(flights, tmp_path):
    root, ortho, runs = flights
    reg = tmp_path / "north.gpkg"
    out = _run("registry", "record", *runs, "--registry", reg)
    assert "6 new targets" in out and "6 of known targets, 0 new" in out
    assert "already recorded" in _run("registry", "record", runs[0], "--registry", reg)
    named = json.loads((runs[0] / "targets.geojson").read_text())["features"]
    assert [f["properties"]["target_id"] for f in named] == [f"NORTH-{i:05d}" for i in range(1, 7)]
    assert named[0]["properties"]["run_target_id"] == "M1-0001"  # the run's id, kept beside

    out = _run("field", "package", "--registry", reg, "--out", tmp_path / "pack", "--crews", "2")
    assert "6 targets" in out and "crew 1: 3 targets" in out and "MB/km2" in out
    assert (tmp_path / "pack.zip").is_file() and (tmp_path / "pack" / "pack.qgz").is_file()

    ids = [r[0] for r in sqlite3.connect(reg).execute("SELECT target_id FROM targets ORDER BY fid")]
    csv = tmp_path / "paper.csv"
    csv.write_text("target_id,status,visited_at,crew,note,photo\n"
                   f"{ids[0]},confirmed,2026-03-12T09:00:00Z,crew 1,,DCIM/1.jpg\n"
                   f"{ids[1]},False positive,2026-03-12T10:00:00Z,crew 1,beans,\n"
                   f"{ids[2]},eradicated,2026-03-12T11:00:00Z,crew 1,,\n"
                   f"{ids[5]},confirmed,2026-03-12T12:00:00Z,crew 1,,\n"
                   "NORTH-09999,confirmed,2026-03-12,crew 1,,\n")
    out = _run("field", "import", csv, "--registry", reg)
    assert "4 applied, 0 skipped, 1 flagged" in out and "no such target" in out
    assert "nothing changed" in _run("field", "import", csv, "--registry", reg)

    status = json.loads(_run("registry", "status", "--registry", reg, "--json"))
    (m1,) = [m for m in status["missions"] if m["mission"] == "M1"]
    assert m1["states"]["confirmed"] == 2 and m1["states"]["false_positive"] == 1
    assert m1["open"] == 4 and m1["verdicts"] == 4  # 2 never visited + 2 poppy still standing
    table = _run("registry", "status", "--registry", reg)
    assert "M1" in table and ids[0] in table and "confirmed" in table

    out = _run("dataset", "build", "--ortho", ortho, "--registry", reg, "--out", tmp_path / "ds",
               "--gsd", "0.05", "--tile-px", "256", "--overlap-px", "64", "--block-m", "16",
               "--val-frac", "0.3", "--test-frac", "0")
    summary = json.loads((tmp_path / "ds" / "summary.json").read_text())
    assert summary["counts"]["labels_in"] == 3  # confirmed and eradicated plots
    assert summary["counts"]["hard_negatives_in"] == 1  # the false positive
    assert summary["counts"]["hard_negative_chips"] >= 1
    assert summary["options"]["hard_negatives"] == ["north.gpkg (false positives)"]
    assert "hard negatives:" in out


def test_dataset_build_needs_labels_or_a_registry(flights, tmp_path):
    _, ortho, _ = flights
    result = CliRunner().invoke(cli, ["dataset", "build", "--ortho", str(ortho), "--out",
                                      str(tmp_path / "ds")])
    assert result.exit_code != 0 and "--labels, --registry" in result.output


def test_registry_status_of_a_missing_file_is_one_line(tmp_path):
    missing = str(tmp_path / "no.gpkg")
    result = CliRunner().invoke(cli, ["registry", "status", "--registry", missing])
    assert result.exit_code == 2 and "does not exist" in result.output
