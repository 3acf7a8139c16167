"""Synthetic plots sown into real orthomosaics: truth where the pixels are, host untouched elsewhere."""

import json

import cv2
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.features import rasterize
from rasterio.windows import Window

from poppyscan.cli.main import cli
from poppyscan.errors import ConfigError, RasterError
from poppyscan.synth.composite import composite_survey
from poppyscan.synth.host import ground_px_m
from poppyscan.synth.paste import reach_m
from poppyscan.train.false_target_rate import ground_area_m2


def write_host(path, size_px=480, gsd_m=0.05):
    """Dry, bare ground (no canopy, nothing blocked): mottled brown with seeded noise, UTM 47N."""
    rng = np.random.default_rng(5)
    mottle = cv2.resize(rng.normal(0, 12, (12, 12)), (size_px, size_px), interpolation=cv2.INTER_CUBIC)
    base = np.array([150, 128, 104], float)[:, None, None]
    pixels = np.clip(base + mottle + rng.normal(0, 3, (3, size_px, size_px)), 1, 255).astype("uint8")
    profile = dict(driver="GTiff", width=size_px, height=size_px, count=3, dtype="uint8",
                   crs="EPSG:32647", transform=Affine(gsd_m, 0, 500_000, 0, -gsd_m, 2_000_000))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path


def read_rgb(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read([1, 2, 3])


def truth_mask(result, shape, transform) -> np.ndarray:
    """Pixels whose centres lie in a plot polygon (GDAL's rule, as the generator paints)."""
    return rasterize([(p["geometry"], 1) for p in result.plots], out_shape=shape,
                     transform=transform, dtype="uint8").astype(bool)


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("composite")
    host = write_host(tmp / "host.tif")
    return host, composite_survey(host, tmp / "plain", seed=4, plot_density_per_ha=120,
                                  shadows=False)


def test_plots_land_where_their_truth_says_within_a_pixel(flat):
    host, result = flat
    before, after = read_rgb(host), read_rgb(result.ortho_path)
    with rasterio.open(result.ortho_path) as src:
        transform, shape, crs = src.transform, (src.height, src.width), src.crs
    assert crs.to_epsg() == 32647 and transform == Affine(0.05, 0, 500_000, 0, -0.05, 2_000_000)
    truth = truth_mask(result, shape, transform)
    changed = (before != after).any(axis=0)
    assert len(result.plots) >= 3
    assert not (changed & ~grow(truth, 1)).any()  # nothing changed beyond one pixel of a plot
    core = cv2.erode(truth.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert changed[core].mean() > 0.99  # and the plots are there
    for plot in result.plots:
        assert plot["area_m2"] == pytest.approx(plot["geometry"].area, abs=0.01)
        assert plot["occluded_frac"] == 0.0


def test_host_pixels_away_from_plots_keep_their_exact_values(flat):
    host, result = flat
    before, after = read_rgb(host), read_rgb(result.ortho_path)
    with rasterio.open(result.ortho_path) as src:
        far = ~grow(truth_mask(result, (src.height, src.width), src.transform), 2)
        assert src.compression.name == "deflate"
    assert far.mean() > 0.5
    assert np.array_equal(before[:, far], after[:, far])


def test_shadows_stay_beside_their_plots(flat, tmp_path):
    host, _ = flat
    result = composite_survey(host, tmp_path / "shadows", seed=4, plot_density_per_ha=120)
    sun = np.array(json.loads((tmp_path / "shadows" / "composite.json").read_text())["sun_east_north_up"])
    before, after = read_rgb(host), read_rgb(result.ortho_path)
    with rasterio.open(result.ortho_path) as src:
        truth = truth_mask(result, (src.height, src.width), src.transform)
    changed = (before != after).any(axis=0)
    reach_px = int(np.ceil(reach_m(sun) / 0.05)) + 1
    assert not (changed & ~grow(truth, reach_px)).any()
    tall = [p for p in result.plots if p["stage"] != "rosette"]
    assert not tall or (changed & ~grow(truth, 1)).any()  # tall plants do cast a shadow


def test_same_seed_same_bytes(flat, tmp_path):
    host, result = flat
    again = composite_survey(host, tmp_path / "again", seed=4, plot_density_per_ha=120,
                             shadows=False)
    other = composite_survey(host, tmp_path / "other", seed=5, plot_density_per_ha=120,
                             shadows=False)
    assert again.ortho_path.read_bytes() == result.ortho_path.read_bytes()
    assert other.ortho_path.read_bytes() != result.ortho_path.read_bytes()


def test_world_mercator_host_gets_plots_in_ground_metres(real_dir, tmp_path):
    """A 60 m crop of the Brazil tile (EPSG:3395, 0.10 m on the map, 0.096 m on the ground)."""
    crop = tmp_path / "brazil.tif"
    with rasterio.open(real_dir / "oamtcd_brazil_10cm.tif") as src:
        window = Window(1000, 1000, 600, 600)
        profile = dict(src.profile, width=600, height=600, transform=src.window_transform(window),
                       compress="deflate", photometric="rgb")
        with rasterio.open(crop, "w", **profile) as dst:
            dst.write(src.read(window=window))
    gx, gy = ground_px_m("EPSG:3395", profile["transform"], 600, 600)
    assert gx == pytest.approx(0.0962, abs=2e-4) and gy == pytest.approx(0.0963, abs=2e-4)
    result = composite_survey(crop, tmp_path / "out", seed=2, plot_density_per_ha=40,
                              shadows=False)
    assert result.plots
    for plot in result.plots:
        area, measured_in = ground_area_m2(plot["geometry"], "EPSG:3395")
        assert measured_in == "EPSG:32722"
        assert plot["area_m2"] == pytest.approx(area, rel=3e-3)
        assert plot["geometry"].area > 1.07 * plot["area_m2"]  # map m2 are larger at 15.7 S
    before, after = read_rgb(crop), read_rgb(result.ortho_path)
    truth = truth_mask(result, (600, 600), profile["transform"])
    changed = (before != after).any(axis=0)
    assert not (changed & ~grow(truth, 1)).any() and changed[truth].mean() > 0.95


def test_bad_hosts_and_options_are_refused(real_dir, tmp_path):
    with pytest.raises(RasterError, match="outside the generator's 0.015-0.1 m"):
        composite_survey(real_dir / "tiled_epsg28992.tif", tmp_path / "a", seed=0)
    with pytest.raises(ConfigError, match="stages"):
        composite_survey(real_dir / "SJER_477.tif", tmp_path / "a", seed=0, stages=["seedling"])
    composite_survey(real_dir / "SJER_477.tif", tmp_path / "b", seed=0)
    with pytest.raises(ConfigError, match="already exists"):
        composite_survey(real_dir / "SJER_477.tif", tmp_path / "b", seed=0)


def test_synth_onto_cli(real_dir, tmp_path):
    out = tmp_path / "onto"
    result = CliRunner().invoke(cli, ["synth", "--onto", str(real_dir / "SJER_477.tif"), "--seed",
                                      "3", "--plot-density", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "plots sown into SJER_477.tif" in result.output and "EPSG:32611" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["composite.json", "ortho.tif", "plots.geojson"]
    plots = json.loads((out / "plots.geojson").read_text())["features"]
    assert plots and {f["properties"]["label"] for f in plots} == {"poppy"}
    assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in plots)
    bad = CliRunner().invoke(cli, ["synth", "--onto", str(real_dir / "SJER_477.tif"), "--gsd",
                                   "0.05", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--gsd: not with --onto" in bad.output
