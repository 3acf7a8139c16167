"""A run folder read back through read_run: a damaged run.json is one line naming it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from poppyscan.cli.main import cli
from poppyscan.detect.export.manifest import read_run
from poppyscan.errors import ConfigError
from poppyscan.field.registry import record_run
from poppyscan.field.review import Review
from poppyscan.output_folder import verify_outputs
from tests.detect.export_samples import write_sample_run


@pytest.fixture
def run_dir(tmp_path):
    return write_sample_run(tmp_path / "run")


def _edit(run_dir, change) -> None:
    path = run_dir / "run.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_read_run_gives_the_manifest_back(run_dir):
    manifest = read_run(run_dir)
    assert manifest["model"]["model_id"] == "m1" and manifest["counts"] == {"targets": 3}
    assert [o["path"] for o in manifest["outputs"]] == [
        "targets.geojson", "plots.geojson", "targets.gpx", "targets.kml"]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda m: m.pop("model"), r"run\.json: 'model' is missing or not a JSON object"),
    (lambda m: m.update(schema="other/2"), r"run\.json: schema 'other/2', expected"),
    (lambda m: m.update(outputs={"a": 1}), r"run\.json: 'outputs' is missing or not a JSON list"),
    (lambda m: m["model"].pop("model_id"), r"run\.json: 'model' has no model_id"),
    (lambda m: m["inputs"].append("a.tif"), r"run\.json: an input or output is not a file record"),
])
def test_a_damaged_manifest_is_named(run_dir, damage, message):
    _edit(run_dir, damage)
    with pytest.raises(ConfigError, match=message):
        read_run(run_dir)


def test_not_json_and_no_manifest_are_named(run_dir, tmp_path):
    (run_dir / "run.json").write_bytes(b'{"schema": "poppyscan.run/1", "mod')
    with pytest.raises(ConfigError, match=r"run[/\\]run\.json: not valid JSON"):
        read_run(run_dir)
    assert verify_outputs(run_dir)[0].endswith("damaged, its list of outputs unreadable "
                                               "(JSONDecodeError)")
    with pytest.raises(ConfigError, match="empty: no run.json; not a published run folder"):
        read_run(tmp_path / "empty")


def test_review_of_a_damaged_run_json_is_one_clear_line(run_dir):
    (run_dir / "run.json").write_text('{"schema": "poppyscan.run/1", "model": ')
    with pytest.raises(ConfigError, match=r"run\.json: not valid JSON"):
        Review.open(run_dir)
    result = CliRunner().invoke(cli, ["review", str(run_dir), "--apply"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "run.json: not valid JSON" in lines[0], result.output


def test_review_of_a_manifest_without_its_model_is_one_clear_line(run_dir):
    _edit(run_dir, lambda m: m.pop("model"))
    result = CliRunner().invoke(cli, ["review", str(run_dir), "--apply"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"Error: {run_dir / 'run.json'}: 'model' is missing or not a JSON object; not a run "
        "manifest poppyscan wrote"]


def test_a_damaged_snapshot_or_review_file_is_named(run_dir):
    snapshot = run_dir / "review" / "original"
    snapshot.mkdir(parents=True)
    (snapshot / "run.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"original[/\\]run\.json: a JSON list, not an object"):
        Review.open(run_dir)
    (snapshot / "run.json").unlink()
    (run_dir / "review.json").write_text('{"decisions": {"M1-0001": "keep"}}')
    with pytest.raises(ConfigError, match=r"review\.json: damaged"):
        Review.open(run_dir)


def test_the_registry_reads_a_run_through_read_run(run_dir, tmp_path):
    registry = tmp_path / "area.gpkg"
    _edit(run_dir, lambda m: m["settings"].update(position_uncertainty_m=7.5))
    assert record_run(registry, run_dir).n_new == 3
    with sqlite3.connect(registry) as con:
        assert con.execute("SELECT position_uncertainty_m FROM runs").fetchall() == [(7.5,)]
    _edit(run_dir, lambda m: m.update(counts=[]))
    with pytest.raises(ConfigError, match=r"run\.json: 'counts' is missing"):
        record_run(tmp_path / "other.gpkg", run_dir)
