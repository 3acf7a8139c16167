"""`poppyscan dataset build --hard-negatives`: look-alikes and field verdicts as empty chips."""

from __future__ import annotations

import json

from click.testing import CliRunner

from poppyscan.cli.main import cli
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

    not_vector = runner.invoke(cli, [*common, "--out", str(tmp_path / "bad"),
                                     "--hard-negatives", str(tmp_path / "plain" / "data.yaml")])
    assert not_vector.exit_code == 2 and "cannot read as a vector file" in not_vector.output
    assert not_vector.output.strip().count("\n") == 0
    assert not (tmp_path / "bad" / "data.yaml").exists()
