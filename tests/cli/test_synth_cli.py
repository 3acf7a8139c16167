"""``poppyscan synth`` in-process: outputs, overwrite policy, option errors."""

import pyogrio
import rasterio
from click.testing import CliRunner

from poppyscan.cli.main import cli

ARGS = ["synth", "--seed", "3", "--size-px", "320", "256", "--gsd", "0.04"]


def test_synth_writes_the_three_files(tmp_path):
    out = tmp_path / "survey"
    result = CliRunner().invoke(cli, [*ARGS, "--out", str(out), "--plot-density", "50", "--wgs84"])
    assert result.exit_code == 0, result.output
    assert "320 x 256 px at 0.040 m" in result.output and "Mpx/s" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "distractors.geojson", "ortho.tif", "plots.geojson", "plots_wgs84.geojson"]
    with rasterio.open(out / "ortho.tif") as src:
        assert (src.width, src.height, src.count) == (320, 256, 4)
        assert src.res == (0.04, 0.04) and src.crs.to_epsg() == 32647
    assert pyogrio.read_info(out / "plots.geojson")["crs"] == "EPSG:32647"


def test_synth_refuses_to_overwrite_without_the_flag(tmp_path):
    out = tmp_path / "survey"
    assert CliRunner().invoke(cli, [*ARGS, "--out", str(out)]).exit_code == 0
    before = (out / "ortho.tif").read_bytes()
    again = CliRunner().invoke(cli, [*ARGS, "--out", str(out), "--seed", "4"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert "Traceback" not in again.output and again.output.strip().count("\n") == 0
    assert (out / "ortho.tif").read_bytes() == before
    forced = CliRunner().invoke(cli, [*ARGS, "--out", str(out), "--seed", "4", "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert (out / "ortho.tif").read_bytes() != before


def test_synth_gsd_out_of_range_is_a_clear_error(tmp_path):
    for gsd in ("0.2", "0.01"):
        result = CliRunner().invoke(cli, [*ARGS, "--out", str(tmp_path / "o"), "--gsd", gsd])
        assert result.exit_code == 2
        assert "--gsd" in result.output and "0.015<=x<=0.1" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_synth_config_file_sets_defaults_and_flags_win(tmp_path):
    config = tmp_path / "synth.yaml"
    config.write_text("gsd_m: 0.08\nmask: nodata\nsize_px: [200, 150]\n")
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["synth", "--config", str(config), "--out", str(out),
                                      "--size-px", "128", "96"])
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "ortho.tif") as src:
        assert (src.width, src.height, src.count, src.nodata) == (128, 96, 3, 0)
        assert src.res == (0.08, 0.08)
    config.write_text("gsd: 0.08\n")
    bad = CliRunner().invoke(cli, ["synth", "--config", str(config), "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "gsd_m" in bad.output
