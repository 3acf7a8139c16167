"""Thumbnails from a synthetic GeoTIFF and the self-contained HTML report."""

from __future__ import annotations

import base64
import dataclasses
import re

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

from poppyscan.detect.export import thumbnail_bgr, write_report_html, write_thumbnail
from poppyscan.detect.export._imaging import display_uint8
from poppyscan.detect.export._labels import lat_lon_text
from poppyscan.detect.export.report import draw_overview
from poppyscan.errors import ConfigError, RasterError
from tests.detect.export_samples import sample_targets

UTM = "EPSG:32647"
ORIGIN_X, ORIGIN_Y = 500_000.0, 2_246_000.0
GSD_M = 0.1


def _grey_raster(path, *, dtype="uint8", count=4, crs=UTM, value=120, size=400):
    """Uniform grey raster (plus an alpha band when count == 4) at 10 cm, top-left ORIGIN."""
    data = np.full((count, size, size), value, dtype=dtype)
    if count == 4:
        data[3] = 255 if dtype == "uint8" else 65535
    transform = Affine(GSD_M, 0, ORIGIN_X, 0, -GSD_M, ORIGIN_Y)
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=count, dtype=dtype,
        crs=crs, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def _red_mask(bgr: np.ndarray) -> np.ndarray:
    b, g, r = (bgr[:, :, i].astype(int) for i in range(3))
    return (r > 180) & (g < 90) & (b < 90)


# ---------------------------------------------------------------- thumbnails


def test_thumbnail_is_a_square_jpeg_with_the_outline_centred(tmp_path):
    raster = _grey_raster(tmp_path / "ortho.tif")
    plot = box(ORIGIN_X + 10, ORIGIN_Y - 20, ORIGIN_X + 15, ORIGIN_Y - 15)  # 5 m square

    path = write_thumbnail(raster, plot, tmp_path / "thumbs" / "M1-0001.jpg")

    assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG magic
    img = cv2.imread(str(path))
    assert img.shape == (256, 256, 3)
    red = _red_mask(img)
    rows, cols = np.nonzero(red)
    # 5 m plot + 5 m pad each side = 15 m shown: the plot spans 256/3 = 85 px in the middle.
    assert cols.min() == pytest.approx(85, abs=3) and cols.max() == pytest.approx(170, abs=3)
    assert rows.min() == pytest.approx(85, abs=3) and rows.max() == pytest.approx(170, abs=3)
    assert not red[120:135, 120:135].any()  # outline only, inside left grey
    assert abs(int(img[128, 128, 1]) - 120) < 6  # alpha band ignored: grey, not 255


def test_thumbnail_bgr_is_the_same_square_in_memory(tmp_path):
    raster = _grey_raster(tmp_path / "ortho.tif")
    plot = box(ORIGIN_X + 10, ORIGIN_Y - 20, ORIGIN_X + 15, ORIGIN_Y - 15)

    bgr = thumbnail_bgr(raster, plot, size_px=96)

    assert bgr.shape == (96, 96, 3) and bgr.dtype == np.uint8
    assert list(tmp_path.iterdir()) == [raster]  # nothing written
    rows, cols = np.nonzero(_red_mask(bgr))
    assert cols.min() == pytest.approx(32, abs=2) and cols.max() == pytest.approx(64, abs=2)
    jpeg = cv2.imread(str(write_thumbnail(raster, plot, tmp_path / "t.jpg", size_px=96)))
    assert np.abs(jpeg.astype(int) - bgr).mean() < 3  # the JPEG is this square, encoded


def test_thumbnail_accepts_a_wgs84_polygon_and_size(tmp_path):
    raster = _grey_raster(tmp_path / "ortho.tif")
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    (x0, x1), (y0, y1) = to_wgs84.transform(
        [ORIGIN_X + 18, ORIGIN_X + 22], [ORIGIN_Y - 22, ORIGIN_Y - 18]
    )

    path = write_thumbnail(
        raster, box(x0, y0, x1, y1), tmp_path / "t.jpg", polygon_crs="EPSG:4326", size_px=128
    )

    img = cv2.imread(str(path))
    assert img.shape == (128, 128, 3)
    assert _red_mask(img).sum() > 100


def test_thumbnail_stretches_16_bit_data_and_pads_outside_the_raster(tmp_path):
    raster = _grey_raster(tmp_path / "ortho16.tif", dtype="uint16", count=3, value=3000)
    with rasterio.open(raster, "r+") as dst:  # a left-to-right ramp 1000..4990
        ramp = np.broadcast_to(np.arange(1000, 5000, 10, dtype="uint16"), (3, 400, 400))
        dst.write(ramp)
    corner = box(ORIGIN_X, ORIGIN_Y - 2, ORIGIN_X + 2, ORIGIN_Y)  # top-left corner plot

    img = cv2.imread(str(write_thumbnail(raster, corner, tmp_path / "c.jpg")))

    assert img.shape == (256, 256, 3)
    assert img[5, 5].max() < 10  # beyond the raster: black fill
    inside = img[200:250, 140:250, 1].astype(int)
    assert inside.min() > 0  # stretched data, not black
    assert inside[:, -1].mean() - inside[:, 0].mean() > 100  # the ramp spans the 8-bit range


def test_display_stretch_is_one_for_all_bands_and_mid_grey_when_flat():
    ramp = np.linspace(1000, 2000, 101)  # 10 per pixel
    data = np.stack([ramp, ramp + 500, ramp])[:, None, :]
    data[:, 0, 0] = 0  # no data
    out = display_uint8(data)
    assert out[:, 0, 0].tolist() == [0, 0, 0]
    # One stretch for all bands: a value is as bright in band 2 as in band 1.
    assert out[1, 0, 1:51].tolist() == out[0, 0, 51:101].tolist()
    assert out[0, 0, 1] == 0 and out[1, 0, 100] == 255  # 2-98 % of the valid values
    flat = display_uint8(np.full((3, 2, 2), 3000, dtype="uint16"))
    assert (flat == 128).all()


def test_thumbnail_errors_name_the_problem(tmp_path):
    raster = _grey_raster(tmp_path / "ortho.tif")
    far = box(ORIGIN_X + 1000, ORIGIN_Y + 1000, ORIGIN_X + 1001, ORIGIN_Y + 1001)

    with pytest.raises(RasterError, match="outside the raster"):
        write_thumbnail(raster, far, tmp_path / "x.jpg")
    with pytest.raises(ConfigError, match="size_px=8.*16 to 4096"):
        write_thumbnail(raster, far, tmp_path / "x.jpg", size_px=8)
    with pytest.raises(RasterError, match="missing.tif"):
        write_thumbnail(tmp_path / "missing.tif", far, tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()


# ---------------------------------------------------------------- report


def _targets_with_thumbnails(out_dir):
    targets = sample_targets()
    raster = _grey_raster(out_dir / "ortho.tif")
    plot = box(ORIGIN_X + 10, ORIGIN_Y - 20, ORIGIN_X + 15, ORIGIN_Y - 15)
    with_thumbs = []
    for t in targets:
        rel = f"thumbs/{t.target_id}.jpg"
        write_thumbnail(raster, plot, out_dir / rel, size_px=64)
        with_thumbs.append(dataclasses.replace(t, thumbnail=rel))
    return with_thumbs


def _overview(targets):
    """A 200 x 300 grey overview in UTM 47N covering every sample target."""
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    xs, ys = to_utm.transform([t.lon for t in targets], [t.lat for t in targets])
    west, north = min(xs) - 50, max(ys) + 50
    gsd = (max(xs) - min(xs) + 100) / 300
    return np.full((200, 300, 3), 90, np.uint8), Affine(gsd, 0, west, 0, -gsd, north), UTM


def test_report_is_self_contained_with_ids_and_inlined_thumbnails(tmp_path):
    targets = _targets_with_thumbnails(tmp_path)
    path = write_report_html(
        tmp_path / "report.html",
        targets,
        mission="M1 <north>",
        model_id="poppy-yolo-v1",
        overview=_overview(targets),
        coverage_area_km2=1.25,
        chips_processed=40,
        chips_skipped=10,
        figures={"GSD": "5 cm"},
    )
    text = path.read_text(encoding="utf-8")

    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<link" not in text and "<script" not in text
    for t in targets:
        assert t.target_id in text
        lat, lon = lat_lon_text(t.lat, t.lon)  # the digits every page prints, from 7 decimals
        assert lat in text and lon in text
    assert "M1 &lt;north&gt;" in text and "M1 <north>" not in text  # escaped
    images = re.findall(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 1 + len(targets)  # overview + one thumbnail per target
    assert images[1][0] == "image/jpeg"
    assert base64.b64decode(images[1][1]) == (tmp_path / "thumbs" / "M1-0001.jpg").read_bytes()
    assert "1.250 km2" in text and "80.0&nbsp;%" in text and "5 cm" in text


def test_report_rows_are_in_rank_order_and_missing_thumbnails_say_so(tmp_path):
    targets = [dataclasses.replace(t, thumbnail="thumbs/gone.jpg") for t in sample_targets()]
    text = write_report_html(tmp_path / "r.html", targets, mission="M1", model_id="m").read_text()

    order = [text.index(f"M1-000{i}</td>") for i in (1, 2, 3)]
    assert order == sorted(order)
    assert text.count("missing: thumbs/gone.jpg") == 3


def test_overview_markers_are_drawn_where_the_targets_are():
    targets = sample_targets()
    image, transform, crs = _overview(targets)

    drawn = draw_overview((image, transform, crs), targets)

    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    for t in targets:
        col, row = ~transform @ to_utm.transform(t.lon, t.lat)
        patch = drawn[int(row) - 2 : int(row) + 3, int(col) - 7 : int(col) + 8]
        assert (patch != 90).any(), f"no marker at {t.target_id}"
    assert (drawn[0:3, 0:3] == 90).all()


def test_overview_must_be_channels_last():
    with pytest.raises(ConfigError, match="channels last"):
        draw_overview((np.zeros((3, 50, 60), np.uint8), Affine.identity(), UTM), [])


def test_targets_off_the_overview_are_skipped():
    targets = sample_targets()
    image = np.full((50, 80, 3), 90, np.uint8)
    far_away = Affine(0.1, 0, 400_000, 0, -0.1, 2_000_000)  # 100 km from the targets

    drawn = draw_overview((image, far_away, UTM), targets)

    assert (drawn == 90).all()


def test_large_raster_without_overviews_is_drawn_as_its_footprint(tmp_path, monkeypatch):
    """A decimated read would decode every pixel again after detection: not for big rasters."""
    from poppyscan.detect.export import overview as overview_module
    from poppyscan.tiles import inspect_raster, raster
    from tests.data.rasters import make_raster

    info = inspect_raster(make_raster(tmp_path / "big.tif", 400, 300))
    monkeypatch.setattr(raster, "DECIMATED_READ_MAX_PX", 400 * 300 - 1)

    def no_read(*args, **kwargs):
        raise AssertionError("read the whole raster")

    monkeypatch.setattr(overview_module, "overview_read", no_read)
    image, _, _ = overview_module.mission_overview([info], info.crs, max_px=100)
    assert image.shape[:2] == (75, 100)
    grey = (image == overview_module.FOOTPRINT_GREY).all(axis=2)
    assert grey.mean() > 0.7  # the rest: the scale bar and the north arrow, drawn in grey levels
    assert (image == image[..., :1]).all()  # none of the raster's random colours
