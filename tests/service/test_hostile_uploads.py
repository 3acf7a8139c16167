"""Finding 2 of issue 29: image bombs are refused by what their blocks store, in a limited child."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from tests.service.conftest import Service

MB = 1 << 20


def _profile(size_px: int, **extra) -> dict:
    return dict(driver="GTiff", width=size_px, height=size_px, count=3, dtype="uint8",
                tiled=True, blockxsize=512, blockysize=512, crs="EPSG:32642",
                transform=from_origin(500000, 3800000, 0.05, 0.05), **extra)


def _zeros(path, size_px: int, compress: str) -> bytes:
    """A ``size_px`` square of black, every tile stored (a decompression bomb)."""
    with rasterio.open(path, "w", **_profile(size_px, compress=compress)) as dst:
        band = np.zeros((3, 512, size_px), np.uint8)
        for row in range(0, size_px, 512):
            height = min(512, size_px - row)
            dst.write(band[:, :height], window=Window(0, row, size_px, height))
    return path.read_bytes()


def _rejected(service, body: bytes, mission: str) -> dict:
    row = service.upload("ann", mission, body, name="bomb.tif")
    assert row["state"] == "rejected", row
    assert not any(service.data.file_dir(row["id"]).rglob("*.tif"))  # bytes deleted
    return row


def test_a_padded_sparse_bomb_is_refused_by_its_block_table(tmp_path, small_bundle):
    """Issue: 10.3 MB claiming 100,000 x 100,000 px (random padding) became ready, 38,416 chips."""
    service = Service(tmp_path, small_bundle, max_upload_bytes=16 * MB)
    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", **_profile(100_000, compress="deflate", sparse_ok=True)):
        pass
    body = path.read_bytes() + os.urandom(10_000_000)
    assert len(body) > 100_000 * 100_000 * 1_000 / 1e6  # passes the old bytes-per-pixel test
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    row = _rejected(service, body, service.mission("ann"))
    assert "100000 x 100000 px but its image blocks store only 0 bytes (38,416 of 38,416 " \
           "blocks missing)" in row["error"]
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime > before  # checked in a child


def test_a_compression_bomb_stores_too_little_for_its_pixels(tmp_path, small_bundle):
    service = Service(tmp_path, small_bundle, max_upload_bytes=16 * MB)
    body = _zeros(tmp_path / "zstd.tif", 20_000, "zstd")  # 400 Mpx in about 80 KB
    row = _rejected(service, body, service.mission("ann"))
    assert "20000 x 20000 px but its image blocks store only" in row["error"]


@pytest.mark.parametrize("limit", ["memory", "cpu"])
def test_a_costly_file_is_stopped_by_the_childs_limits(tmp_path, small_bundle, survey, limit):
    """Issue: a 430 KB file of 400 Mpx took the web process from 314 to 657 MB."""
    limits = {"intake_memory_bytes": 700 * MB} if limit == "memory" else {"intake_cpu_s": 1}
    service = Service(tmp_path, small_bundle, max_upload_bytes=16 * MB, **limits)
    mission = service.mission("ann")
    body = _zeros(tmp_path / "deflate.tif", 12_000, "deflate")  # 144 Mpx in about 470 KB
    row = _rejected(service, body, mission)
    expected = ("needs more than the 700 MiB of memory" if limit == "memory" else
                "its checks stopped (exit -24) within the limits of 1 CPU seconds")
    assert expected in row["error"], row["error"]
    if limit == "memory":  # a real survey still fits
        assert service.upload("ann", mission, survey.read_bytes())["state"] == "ready"


def test_a_teams_pixel_quota_sits_beside_its_byte_quota(tmp_path, small_bundle, survey):
    service = Service(tmp_path, small_bundle, team_quota_px=400_000)
    mission = service.mission("ann")
    assert service.upload("ann", mission, survey.read_bytes())["state"] == "ready"  # 262,144 px
    row = service.upload("ann", mission, survey.read_bytes(), name="again.tif")
    assert row["state"] == "rejected"
    assert row["error"].startswith("the team's files would hold 524,288 px, over its quota of 400,000 px")
    other = service.upload("bob", service.mission("bob"), survey.read_bytes())
    assert other["state"] == "ready"
