"""The synthetic survey generator: determinism, georeference, footprint, GSD, streaming."""

import hashlib
import tracemalloc

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import rasterize

from poppyscan.errors import ConfigError
from poppyscan.synth import DISTRACTOR_KINDS, STAGES, generate_survey
from poppyscan.synth.fill import fill_mask

SMALL = (512, 384)  # two tiles across, the second partial: exercises tile assembly


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _to_map(t, cols, rows):
    """Pixel coordinates -> map coordinates of a north-up transform."""
    return t.c + t.a * np.asarray(cols), t.f + t.e * np.asarray(rows)


def _read(res) -> np.ndarray:
    with rasterio.open(res.ortho_path) as src:
        return src.read()


# A lossless survey dense with plots of every stage, 64 m x 64 m at 8 cm, under a high sun
# (seed 2 draws a low one, whose long tree shadows dim small plots' contrast).
DENSE = dict(seed=2, size_px=(800, 800), gsd_m=0.08, compress="deflate", plot_density_per_ha=60,
             distractor_density_per_ha=40, forest_cover=0.3, conditions=dict(sun_elevation_deg=50.0))


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return generate_survey(tmp_path_factory.mktemp("survey"), wgs84=True, **DENSE)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate_survey(tmp_path / "a", seed=11, size_px=SMALL)
    b = generate_survey(tmp_path / "b", seed=11, size_px=SMALL)
    c = generate_survey(tmp_path / "c", seed=12, size_px=SMALL)
    for name in ("ortho_path", "plots_path", "distractors_path"):
        assert _md5(getattr(a, name)) == _md5(getattr(b, name))
    assert _md5(a.ortho_path) != _md5(c.ortho_path)
    assert not np.array_equal(_read(a), _read(c))


def test_block_size_does_not_change_a_single_byte(tmp_path):
    big = generate_survey(tmp_path / "512", seed=5, size_px=(640, 520), block_px=512)
    small = generate_survey(tmp_path / "128", seed=5, size_px=(640, 520), block_px=128)
    assert _md5(big.ortho_path) == _md5(small.ortho_path)


def test_ortho_is_a_tiled_compressed_projected_rgba_geotiff(tmp_path):
    res = generate_survey(tmp_path, seed=3, size_px=SMALL, gsd_m=0.03, overviews=True)
    with rasterio.open(res.ortho_path) as src:
        assert src.count == 4 and src.dtypes == ("uint8",) * 4
        assert src.crs.to_epsg() == 32647 and res.crs.to_epsg() == 32647
        assert src.block_shapes == [(512, 512)] * 4
        assert src.compression.value == "JPEG"
        assert src.colorinterp[3] == rasterio.enums.ColorInterp.alpha
        assert src.transform.a == pytest.approx(0.03) and src.transform.e == pytest.approx(-0.03)
        assert src.overviews(1) == [2]
    assert res.transform == src.transform
    assert 500_000 - 300_000 < res.transform.c < 500_000 + 300_000  # inside UTM 47N
    assert res.mpx_per_s > 0


def test_footprint_is_pixel_exact_alpha_and_nodata(tmp_path, survey):
    img = _read(survey)
    inside = rasterize([survey.footprint], out_shape=img.shape[1:], transform=survey.transform)
    assert 0.3 < inside.mean() < 0.98  # an irregular, rotated footprint with a collar
    assert np.array_equal(img[3], inside * 255)
    assert (img[:3, inside == 0] == 0).all()
    nodata = generate_survey(tmp_path, mask="nodata", **DENSE)
    with rasterio.open(nodata.ortho_path) as src:
        rgb = src.read()
        assert src.count == 3 and src.nodata == 0
    assert np.array_equal(rgb.max(0) > 0, inside == 1)  # valid pixels are never 0,0,0
    assert np.array_equal(rgb[:, inside == 1], np.maximum(img[:3, inside == 1], 1))


def test_jpeg_footprint_is_exact_away_from_its_edge(tmp_path):
    res = generate_survey(tmp_path, seed=8, size_px=(700, 600), mask="nodata")
    img = _read(res)
    rng = np.random.default_rng(0)
    cols, rows = rng.uniform(0, 700, 4000), rng.uniform(0, 600, 4000)
    x, y = _to_map(res.transform, cols, rows)
    edge = shapely.distance(res.footprint.boundary, shapely.points(x, y))
    # JPEG (YCbCr 4:2:0) mixes pixels within a 16 px block plus one chroma sample.
    far = edge > 24 * res.gsd_m
    inside = shapely.contains_xy(res.footprint, x, y)
    vals = img[:, rows.astype(int), cols.astype(int)]
    assert (vals[:, far & ~inside] == 0).all()
    assert (vals[:, far & inside].max(0) > 0).all()
    assert (far & inside).sum() > 1000 and (far & ~inside).sum() > 100


def test_plots_land_on_their_pixels(survey):
    img = _read(survey).astype(np.float64)
    checked = 0
    for plot in survey.plots:
        geom = plot["geometry"]
        if plot["area_m2"] < 10 or plot["occluded_frac"] > 0.1 or not survey.footprint.contains(geom):
            continue
        inside = rasterize([geom.buffer(-0.3)], out_shape=img.shape[1:], transform=survey.transform)
        ring = rasterize([geom.buffer(1.5).difference(geom.buffer(0.3))], out_shape=img.shape[1:],
                         transform=survey.transform) & (img[3] > 0)
        mean_in, mean_ring = img[:3, inside == 1].mean(1), img[:3, ring == 1].mean(1)
        assert np.linalg.norm(mean_in - mean_ring) > 12, plot
        if plot["stage"] == "flowering":  # glaucous foliage: bluer than what surrounds it
            blue_in, blue_ring = mean_in[2] - mean_in[0], mean_ring[2] - mean_ring[0]
            assert blue_in > blue_ring + 8, plot
        checked += 1
    assert checked >= 5
    for plot in survey.plots:  # every plot's interior point is a valid pixel
        p = plot["geometry"].representative_point()
        t = survey.transform
        assert img[3, int((p.y - t.f) / t.e), int((p.x - t.c) / t.a)] == 255


def test_truth_files_hold_every_plot_and_distractor(survey):
    meta, _, geoms, fields = pyogrio.raw.read(survey.plots_path)
    rows = dict(zip(meta["fields"], fields, strict=True))
    assert meta["crs"] == "EPSG:32647" and len(geoms) == len(survey.plots) >= 10
    assert set(rows["stage"]) == set(STAGES)
    assert set(rows["planting"]) <= {"rows", "broadcast"}
    flowering = rows["stage"] == "flowering"
    assert all(rows["petal_color"][flowering] != None)  # noqa: E711 - object array
    assert all(rows["petal_color"][~flowering] == None)  # noqa: E711
    areas = shapely.area(shapely.from_wkb(geoms))
    assert np.allclose(areas, rows["area_m2"], atol=0.05)
    assert ((areas > 4.9) & (areas < 600.1)).all()
    assert ((rows["occluded_frac"] >= 0) & (rows["occluded_frac"] <= 1)).all()
    assert (rows["occluded_frac"] > 0).any() and rows["interplanted"].dtype == bool
    meta, _, geoms, fields = pyogrio.raw.read(survey.distractors_path)
    kinds = set(dict(zip(meta["fields"], fields, strict=True))["kind"])
    assert kinds <= set(DISTRACTOR_KINDS) and len(kinds) >= 3
    meta, _, geoms, _ = pyogrio.raw.read(survey.plots_wgs84_path)
    lon, lat = shapely.get_coordinates(shapely.from_wkb(geoms)).T
    assert meta["crs"] == "EPSG:4326" and (96 < lon).all() and (lon < 102).all()
    assert (12 < lat).all() and (lat < 36).all()


def test_same_ground_extent_at_2_and_8_cm(tmp_path):
    fine = generate_survey(tmp_path / "2", seed=4, size_px=(800, 600), gsd_m=0.02, compress="deflate")
    coarse = generate_survey(tmp_path / "8", seed=4, size_px=(200, 150), gsd_m=0.08, compress="deflate")
    assert _to_map(fine.transform, 800, 600) == pytest.approx(_to_map(coarse.transform, 200, 150))
    assert (fine.transform.c, fine.transform.f) == (coarse.transform.c, coarse.transform.f)
    assert [p["geometry"].wkt for p in fine.plots] == [p["geometry"].wkt for p in coarse.plots]
    # The same scene: the 2 cm image averaged 4 x 4 looks like the 8 cm image.
    a = _read(fine).astype(np.float32).reshape(4, 150, 4, 200, 4).mean((2, 4))
    b = _read(coarse).astype(np.float32)
    valid = (a[3] == 255) & (b[3] == 255)
    luma_a, luma_b = a[:3].mean(0)[valid], b[:3].mean(0)[valid]
    assert np.corrcoef(luma_a, luma_b)[0, 1] > 0.85
    assert np.abs(luma_a - luma_b).mean() < 8


def test_peak_memory_does_not_grow_with_raster_size(tmp_path):
    peaks = []
    for size in ((1024, 256), (1024, 1024)):
        tracemalloc.start()
        generate_survey(tmp_path / f"{size[1]}", seed=6, size_px=size, block_px=256,
                        compress="deflate")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # Holding the 4x larger raster would add >= 3 MB (RGBA uint8); the scene adds little.
    assert peaks[1] < peaks[0] + 2_000_000, peaks


def test_polygon_fill_matches_gdal_and_ignores_block_origin():
    rng = np.random.default_rng(3)
    poly = shapely.Polygon(rng.uniform(0, 200, (30, 2))).buffer(8).buffer(-4)
    poly = max(getattr(poly, "geoms", [poly]), key=lambda g: g.area)
    rings = [np.asarray(poly.exterior.coords)] + [np.asarray(r.coords) for r in poly.interiors]
    whole = fill_mask(rings, 0, 0, 220, 220)
    gdal = rasterize([poly], out_shape=(220, 220), transform=rasterio.Affine.identity())
    assert np.array_equal(whole, gdal == 1)
    assert np.array_equal(fill_mask(rings, 37, 91, 150, 100), whole[37:187, 91:191])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(gsd_m=0.2), "0.015-0.1"), (dict(gsd_m=0.01), "0.015-0.1"),
    (dict(mask="png"), "alpha"), (dict(compress="lzw"), "deflate"),
    (dict(stages=("seedling",)), "rosette"), (dict(crs="EPSG:4326"), "projected"),
    (dict(block_px=300), "128"), (dict(size_px=(10, 10)), "64-200000"),
    (dict(conditions=dict(haze=2.0)), "haze"), (dict(conditions=dict(fog=0.1)), "sun_azimuth_deg"),
    (dict(plot_density_per_ha=-1), "0-200"), (dict(seed=-3), "seed"),
])
def test_bad_options_are_refused_up_front(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_survey(tmp_path, **{"seed": 1, "size_px": SMALL, **kwargs})
    assert not any(tmp_path.iterdir())


def test_refuses_to_overwrite_unless_asked(tmp_path):
    res = generate_survey(tmp_path, seed=1, size_px=(256, 256))
    before = _md5(res.ortho_path)
    with pytest.raises(ConfigError, match="overwrite"):
        generate_survey(tmp_path, seed=2, size_px=(256, 256))
    assert _md5(res.ortho_path) == before
    again = generate_survey(tmp_path, seed=2, size_px=(256, 256), overwrite=True)
    assert _md5(again.ortho_path) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "distractors.geojson", "ortho.tif", "plots.geojson"]
