"""The Python API as a user meets it: the README's example, run as written."""

import json
import re
from pathlib import Path

import pytest

import poppyscan.api as ps
from poppyscan.synth import generate_survey

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_python_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_python_example(), str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"for QField: {Path('targets') / 'targets.gpkg'}"
    assert (tmp_path / "targets" / "targets.gpkg").is_file()
    targets = json.loads((tmp_path / "targets" / "targets.geojson").read_text())["features"]
    assert len(printed) == min(3, len(targets)) + 1
    assert all(line.startswith("ortho-00") for line in printed[:-1])


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return generate_survey(tmp_path_factory.mktemp("survey"), seed=3, size_px=(1024, 1024),
                           gsd_m=0.05)


def test_detect_without_a_folder_writes_nothing(survey, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = ps.detect([survey.ortho_path], device="cpu", mission="M")
    assert run.out_dir is None and run.paths == {} and list(tmp_path.iterdir()) == []
    assert [t.target_id for t in run.targets] == [f"M-{i:04d}" for i in range(1, len(run.targets) + 1)]


def test_conf_and_merge_overrides_are_recorded(survey, tmp_path):
    card = ps.load_model()
    run = ps.detect([survey.ortho_path], tmp_path / "out", device="cpu", conf=0.3, merge="nms")
    manifest = json.loads(run.paths["run"].read_text())
    assert manifest["thresholds"]["conf"] == 0.3 and manifest["thresholds"]["merge_rule"] == "nms"
    baseline = ps.detect([survey.ortho_path], device="cpu")
    assert card.conf > 0.3 and len(run.targets) >= len(baseline.targets)
    assert all(t.conf >= card.conf for t in baseline.targets)


def test_detect_records_into_a_registry(survey, tmp_path):
    registry = tmp_path / "area.gpkg"
    first = ps.detect([survey.ortho_path], tmp_path / "a", device="cpu", registry=registry)
    again = ps.detect([survey.ortho_path], tmp_path / "b", device="cpu", registry=registry)
    assert first.recorded.n_new == len(first.targets) > 0
    assert again.recorded.n_new == 0 and again.recorded.n_matched == len(first.targets)
    manifest = json.loads(first.paths["run"].read_text())
    assert manifest["run_id"] == first.run_id and first.recorded.run_id == first.run_id
    # One name per plot: both runs' outputs call each plot by its registry id.
    ids = [t.target_id for t in first.targets]
    assert all(i.startswith("AREA-") for i in ids)
    assert [t.target_id for t in again.targets] == ids
    assert [t.run_target_id for t in first.targets][0].endswith("-0001")
    features = json.loads((tmp_path / "b" / "targets.geojson").read_text())["features"]
    assert [f["properties"]["target_id"] for f in features] == ids
    assert manifest["extra"]["names"] == {"by": "area.gpkg", "n": len(ids)}
