"""A field package is published through OutputFolder: whole, or the old one untouched."""

from __future__ import annotations

import hashlib

import pytest

import poppyscan.field.package as package_mod
from poppyscan.field import write_field_package
from poppyscan.field.registry import record_run
from tests.detect.export_samples import write_sample_run


def _digests(out) -> dict[str, str]:
    return {p.relative_to(out.parent).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.parent.rglob("*")) if p.is_file() and ".poppyscan" not in p.parts}


@pytest.fixture
def registry(tmp_path):
    registry = tmp_path / "area.gpkg"
    record_run(registry, write_sample_run(tmp_path / "run"))
    return registry


def test_a_failed_package_leaves_the_old_one_whole(registry, tmp_path, monkeypatch):
    out = tmp_path / "packs" / "pack"
    first = write_field_package(registry, out, crews=2)
    before = _digests(out)
    assert "pack.zip" in before and "pack/package.json" in before

    def kmz_fails(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(package_mod, "write_field_kmz", kmz_fails)
    with pytest.raises(OSError, match="No space"):
        write_field_package(registry, out, crews=1, overwrite=True)
    assert _digests(out) == before  # folder and zip as they were
    assert list((out / ".poppyscan").glob("staging-*")) == []
    assert list((out / ".poppyscan").glob("*.part")) == []

    monkeypatch.undo()
    again = write_field_package(registry, out, overwrite=True)  # one walk: no crew routes
    assert set(again.paths) == set(first.paths) and ".poppyscan" not in again.paths
    assert _digests(out)["pack.zip"] != before["pack.zip"]
    assert "<rte>" not in (out / "targets.gpx").read_text()


def test_a_failed_first_package_leaves_no_package(registry, tmp_path, monkeypatch):
    out = tmp_path / "pack"
    monkeypatch.setattr(package_mod, "write_printable_list", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_field_package(registry, out)
    assert not (tmp_path / "pack.zip").exists()
    assert [p.name for p in out.iterdir()] == [".poppyscan"]  # the lock only: no outputs
    monkeypatch.undo()
    assert write_field_package(registry, out).paths["package.json"].is_file()  # not "taken"
