import pyogrio
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from poppyscan.cli.main import cli


def test_tile_writes_georeferenced_chips_and_an_index(real_dir, tmp_path):
    out = tmp_path / "out"
    args = ["tile", str(real_dir / "landsat_rgba_alpha_collar.tif"), "--out", str(out),
            "--gsd", "native", "--tile-px", "128", "--overlap-px", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "41 chips written" in result.output and "8 collar chips skipped" in result.output
    info = pyogrio.read_info(out / "chips.gpkg")
    assert info["features"] == 41 and info["crs"] == "EPSG:32618"
    assert {"chip_id", "source", "row", "col", "valid_frac"} <= set(info["fields"])
    assert len(list((out / "chips").glob("*.tif"))) == 41
    chip_path = out / "chips" / "landsat_rgba_alpha_collar_r0002_c0003.tif"
    with rasterio.open(chip_path) as chip, rasterio.open(real_dir / "landsat_rgba_alpha_collar.tif") as src:
        assert chip.crs == src.crs and chip.count == 4
        assert chip.transform == src.window_transform(Window(3 * 112, 2 * 112, 128, 128))
        valid = chip.read(4) > 0
        direct = src.read([1, 2, 3], window=Window(336, 224, 128, 128))
        assert (chip.read([1, 2, 3])[:, valid] == direct[:, valid]).all()
        assert (chip.read([1, 2, 3])[:, ~valid] == 0).all()  # masked pixels are black

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_tile_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    result = CliRunner().invoke(cli, ["tile", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "broken.tif" in result.output
    assert "Traceback" not in result.output


def test_tile_rejects_bad_gsd(real_dir, tmp_path):
    result = CliRunner().invoke(cli, ["tile", str(real_dir / "OSBS_029.tif"), "--out",
                                      str(tmp_path / "o"), "--gsd", "fine"])
    assert result.exit_code == 2 and "--gsd: 'fine': expected metres" in result.output
