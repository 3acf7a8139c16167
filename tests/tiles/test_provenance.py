"""File checksums and UTC timestamps: one way of writing each for manifests and model cards."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from poppyscan.provenance import sha256_file, utc_now


def test_sha256_file_streams_large_files(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    path = tmp_path / "ortho.tif"
    path.write_bytes(data)

    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_utc_now_is_iso_8601_utc_to_the_second():
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp = utc_now()
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)

    assert stamp.endswith("Z") and len(stamp) == 20
    assert before <= parsed <= before + dt.timedelta(seconds=5)
