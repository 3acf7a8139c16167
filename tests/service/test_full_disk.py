"""Finding 1 of issue 29: a full disk must not wedge the service (507s, DELETE frees space)."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess

import pytest

from tests.service.conftest import TUS, Service

MB = 1 << 20


def test_promised_bytes_count_against_free_space(tmp_path, small_bundle, monkeypatch):
    """Issue: 20 uploads of 70 MB were accepted with 1,153 MB free and 1 GiB to stay free."""
    from poppyscan.service import space

    service = Service(tmp_path, small_bundle, max_upload_bytes=100 * MB, min_free_bytes=1 << 30,
                      team_quota_bytes=1 << 40, max_open_uploads=50)
    monkeypatch.setattr(space, "free_bytes", lambda data: 1_153_000_000)
    ann_m, bob_m = service.mission("ann"), service.mission("bob")
    codes = [service.create_upload("ann", ann_m, 70_000_000).status_code for _ in range(20)]
    assert codes == [201] + [507] * 19
    refused = service.create_upload("bob", bob_m, 70_000_000)  # the other team's promise counts
    assert refused.status_code == 507
    assert "70,000,000 of them promised to unfinished uploads" in refused.json()["detail"]


def test_a_team_holds_a_bounded_number_of_open_uploads(service):
    from poppyscan.service.store import ServiceSettings

    service.app.state.settings = ServiceSettings(min_free_bytes=0, max_open_uploads=3,
                                                 max_upload_bytes=8 * MB)
    mission = service.mission("ann")
    codes = [service.create_upload("ann", mission, 1000).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert service.create_upload("bob", service.mission("bob"), 1000).status_code == 201


def test_unfinished_uploads_expire_and_their_team_is_told(service):
    from poppyscan.service.space import expire_uploads
    from poppyscan.service.store import connect

    mission = service.mission("ann")
    location = service.create_upload("ann", mission, 4000).headers["location"]
    assert service.patch("ann", location, 0, b"x" * 1000).status_code == 204
    file_id = location.rsplit("/", 1)[1]
    con = connect(service.data)
    con.execute("UPDATE files SET created_at = created_at - 49 * 3600 WHERE id = ?", (file_id,))
    con.close()
    assert expire_uploads(service.data, service.settings) == 1
    row = service.client.get(f"/api/files/{file_id}", headers=service.auth("ann")).json()
    assert row["state"] == "rejected" and row["error"].startswith("expired: not finished within 48 h")
    assert not service.data.file_dir(file_id).exists()
    assert service.patch("ann", location, 1000, b"y").status_code == 409
    head = service.client.head(location, headers=service.auth("ann", **TUS))
    assert head.status_code == 410  # so `poppyscan upload` starts the file over


def test_an_upload_expiring_during_a_patch_stays_expired(service, monkeypatch):
    from poppyscan.service import tus
    from poppyscan.service.space import expire_uploads
    from poppyscan.service.store import connect

    mission = service.mission("ann")
    location = service.create_upload("ann", mission, 2000).headers["location"]
    file_id = location.rsplit("/", 1)[1]
    real = tus._append

    async def expiring(request, part, offset, room):
        con = connect(service.data)
        con.execute("UPDATE files SET created_at = 0 WHERE id = ?", (file_id,))
        con.close()
        assert expire_uploads(service.data, service.settings) == 1
        return await real(request, part, offset, room)

    monkeypatch.setattr(tus, "_append", expiring)
    answer = service.patch("ann", location, 0, b"z" * 2000)
    assert answer.status_code == 410 and "expired" in answer.json()["detail"]
    row = service.client.get(f"/api/files/{file_id}", headers=service.auth("ann")).json()
    assert (row["state"], row["offset"]) == ("rejected", 0)


def test_enospc_while_writing_answers_507_and_keeps_the_offset(service, monkeypatch):
    from poppyscan.service import tus

    mission = service.mission("ann")
    location = service.create_upload("ann", mission, 3000).headers["location"]
    assert service.patch("ann", location, 0, b"a" * 1000).status_code == 204

    def half_then_full(out, chunk):
        out.write(bytes(chunk[:300]))
        err = OSError(errno.ENOSPC, "No space left on device")
        err.written_in_chunk = 300
        raise err

    monkeypatch.setattr(tus, "_write_all", half_then_full)
    full = service.patch("ann", location, 1000, b"b" * 1000)
    assert full.status_code == 507 and full.headers["upload-offset"] == "1300"
    assert "disk is full; 1,300 bytes are kept" in full.json()["detail"]
    monkeypatch.undo()
    head = service.client.head(location, headers=service.auth("ann", **TUS))
    assert head.headers["upload-offset"] == "1300"
    assert service.patch("ann", location, 1300, b"c" * 1700).status_code == 204
    part = service.data.file_dir(location.rsplit("/", 1)[1])
    assert not tus._receiving  # no per-upload state outlives its request
    assert part.exists()


def test_upload_headers_take_ascii_digits_only(service):
    for value in ("\u00b2", "\u0663", "1e3", "-5", "9" * 30):
        answer = service.client.post("/api/uploads", headers=service.auth(
            "ann", **TUS, **{"Upload-Length": value.encode(), "Upload-Metadata": ""}))
        assert answer.status_code == 400, (value, answer.status_code)
        assert "whole number of bytes" in answer.json()["detail"]


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs for the data folder (root only; skipped where it cannot be mounted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(path) -> None:
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * (256 << 10))
        except OSError as err:
            assert err.errno == errno.ENOSPC
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_really_full_disk_answers_507_and_delete_frees_it(small_disk, small_bundle):
    """Issue: PATCH, POST /api/missions and DELETE answered 500 on a full disk; nobody could free it."""
    service = Service(small_disk, small_bundle, max_upload_bytes=8 * MB, min_free_bytes=4 * MB,
                      team_quota_bytes=1 << 30)
    mission = service.mission("ann")
    first = service.create_upload("ann", mission, 7 * MB).headers["location"]
    second = service.create_upload("ann", mission, 7 * MB).headers["location"]
    assert service.create_upload("ann", mission, 7 * MB).status_code == 507
    assert service.patch("ann", first, 0, os.urandom(3 * MB)).status_code == 204
    kept = os.urandom(MB)
    assert service.patch("ann", second, 0, kept).status_code == 204
    _fill(small_disk / "filler")  # something else fills the disk

    full = service.patch("ann", first, 3 * MB, os.urandom(2 * MB))
    assert full.status_code == 507, full.text
    assert "upload-offset" in full.headers, full.text
    assert int(full.headers["upload-offset"]) >= 3 * MB
    assert service.client.get("/api/me", headers=service.auth("ann")).status_code == 200
    assert service.client.get("/api/missions", headers=service.auth("ann")).status_code == 200
    refused = service.client.post("/api/missions", json={"name": "M2"}, headers=service.auth("ann"))
    assert refused.status_code == 507 and "disk is full" in refused.json()["detail"]
    free_before = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    deleted = service.client.delete(first, headers=service.auth("ann", **TUS))
    assert deleted.status_code == 204
    freed = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize - free_before
    assert freed > 2.9 * MB  # the 3 MiB it held, less the database page that records it
    assert service.mission("ann", "M2")  # the space freed lets the service write again
    part = service.data.file_dir(second.rsplit("/", 1)[1]) / "upload.part"
    assert hashlib.sha256(part.read_bytes()).digest() == hashlib.sha256(kept).digest()
    head = service.client.head(second, headers=service.auth("ann", **TUS))
    assert head.headers["upload-offset"] == str(MB)
