"""The analysts' loop from the command line: dataset build -> train -> evaluate, offline."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from poppyscan.cli.main import cli
from tests.train.loop import TINY_CONFIG, block_network


def test_build_train_evaluate_on_real_osbs_tree_labels(real_dir, tmp_path, monkeypatch):
    block_network(monkeypatch)
    ortho, labels = str(real_dir / "OSBS_029.tif"), str(real_dir / "OSBS_029.csv")
    ds, model, report = tmp_path / "ds", tmp_path / "model", tmp_path / "report.json"
    runner = CliRunner()

    built = runner.invoke(cli, ["dataset", "build", "--ortho", ortho, "--labels", labels,
                                "--out", str(ds), "--gsd", "0.1", "--tile-px", "128",
                                "--overlap-px", "32", "--workers", "2"])
    assert built.exit_code == 0, built.output
    assert "classes Tree" in built.output and "poppyscan train --data" in built.output
    summary = json.loads((ds / "summary.json").read_text())
    assert summary["tile_px"] == 128 and summary["counts"]["labels_in"] == 61

    trained = runner.invoke(cli, ["train", "--data", str(ds), "--out", str(model),
                                  "--config", str(TINY_CONFIG), "--name", "osbs-trees"])
    assert trained.exit_code == 0, trained.output
    card = yaml.safe_load((model / "card.yaml").read_text())
    assert card["name"] == "osbs-trees" and card["classes"] == ["Tree"]
    assert card["model_id"] in trained.output and "validation: " in trained.output
    assert "fine_tuned_from" not in card["training"]

    # Retraining starts from the last model: its weights are named (with sha256) in the new card.
    tuned = runner.invoke(cli, ["train", "--data", str(ds), "--out", str(tmp_path / "model2"),
                                "--config", str(TINY_CONFIG), "--from-model", str(model),
                                "--epochs", "1"])
    assert tuned.exit_code == 0, tuned.output
    card2 = yaml.safe_load((tmp_path / "model2" / "card.yaml").read_text())
    assert card2["training"]["fine_tuned_from"] == {"file": "weights.pt",
                                                    "sha256": card["weights"]["sha256"],
                                                    "model_id": card["model_id"]}
    assert card2["architecture"] == card["architecture"] == "yolo11n"
    # Bundled again with a new threshold (no training): the card still names the start.
    rebundled = runner.invoke(cli, ["train", "--data", str(ds), "--out", str(tmp_path / "model2"),
                                    "--config", str(TINY_CONFIG), "--conf", "0.4", "--overwrite"])
    assert rebundled.exit_code == 0, rebundled.output
    card3 = yaml.safe_load((tmp_path / "model2" / "card.yaml").read_text())
    assert card3["training"]["run"] == "reused" and card3["thresholds"]["conf"] == 0.4
    assert card3["training"]["fine_tuned_from"] == card2["training"]["fine_tuned_from"]
    into_itself = runner.invoke(cli, ["train", "--data", str(ds), "--out", str(model),
                                      "--from-model", str(model), "--overwrite"])
    assert into_itself.exit_code == 2 and "which training replaces" in into_itself.output

    scored = runner.invoke(cli, ["evaluate", "--model", str(model), "--ortho", ortho,
                                 "--labels", labels, "--data", str(ds), "--device", "cpu",
                                 "--sweep", "0.01,0.1", "--out", str(report)])
    assert scored.exit_code == 0, scored.output
    data = json.loads(report.read_text())
    assert data["n_plots"] == 61 and data["model_id"] == card["model_id"]
    assert [row["conf"] for row in data["sweep"]] == [0.01, 0.1]
    assert data["chip_metrics"]["images"] == summary["splits"]["test"]["images"]
    assert "Plots: 61 on examined ground" in scored.output and "Test chips" in scored.output

    _refused_without_overwrite(runner, [
        ["dataset", "build", "--ortho", ortho, "--labels", labels, "--out", str(ds)],
        ["train", "--data", str(ds), "--out", str(model), "--config", str(TINY_CONFIG)],
        ["evaluate", "--model", str(model), "--ortho", ortho, "--labels", labels,
         "--out", str(report)]])


def _refused_without_overwrite(runner: CliRunner, commands: list[list[str]]) -> None:
    """Outputs are never replaced without --overwrite; errors are one line, exit code 2."""
    for args in commands:
        again = runner.invoke(cli, args)
        assert again.exit_code == 2 and "--overwrite" in again.output, again.output
        assert again.output.strip().count("\n") == 0


def test_bad_options_are_one_line_errors(real_dir, tmp_path):
    ortho, labels = str(real_dir / "OSBS_029.tif"), str(real_dir / "OSBS_029.csv")
    runner = CliRunner()
    odd = runner.invoke(cli, ["dataset", "build", "--ortho", ortho, "--labels", labels, "--out",
                              str(tmp_path / "ds"), "--gsd", "0.1", "--tile-px", "100",
                              "--overlap-px", "0"])
    assert odd.exit_code == 2 and "multiple of 32" in odd.output
    not_ds = runner.invoke(cli, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m")])
    assert not_ds.exit_code == 2 and "not a poppyscan dataset" in not_ds.output
    sweep = runner.invoke(cli, ["evaluate", "--ortho", ortho, "--labels", labels,
                                "--sweep", "0.1,2"])
    assert sweep.exit_code == 2 and "--sweep" in sweep.output
