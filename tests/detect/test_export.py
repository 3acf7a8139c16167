"""Target value type, atomic writing of every exporter, the run manifest and write_all."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest

import poppyscan.detect.export.gpkg as gpkg_mod
import poppyscan.detect.export.gpx_kml as gpx_kml_mod
from poppyscan.detect.export import (
    FORMATS,
    write_all,
    write_plots_geojson,
    write_run_manifest,
    write_targets_geojson,
    write_targets_gpkg,
    write_targets_gpx,
    write_targets_kml,
)
from poppyscan.detect.targets import STATUSES, format_target_id
from poppyscan.errors import ConfigError, PoppyscanError
from poppyscan.provenance import sha256_file
from tests.detect.export_samples import sample_targets

# ---------------------------------------------------------------- Target


def test_target_stores_sources_as_tuple_and_flattens_properties():
    t = dataclasses.replace(sample_targets()[1], sources=["a.tif", "b.tif"])

    assert t.sources == ("a.tif", "b.tif")
    props = t.properties()
    assert props["sources"] == "a.tif;b.tif"
    assert "polygon" not in props
    assert props["status"] == "pending" and props["thumbnail"] is None
    assert hash(t) == hash(dataclasses.replace(t))  # frozen, hashable value


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"status": "done"}, "pending, confirmed, false_positive"),
        ({"conf": 1.2}, "conf 1.2 must be in [0, 1]"),
        ({"rank": 0}, "rank 0"),
        ({"lon": 20.3, "lat": 98.5}, "lat 98.5 must be in [-90, 90]"),
        ({"area_m2": float("nan")}, "area_m2"),
        ({"sources": "a.tif"}, "sources must be a sequence"),
        ({"n_detections": 0}, "n_detections"),
    ],
)
def test_bad_target_values_raise_config_error_naming_the_field(change, needle):
    with pytest.raises(ConfigError, match="M1-0001") as err:
        dataclasses.replace(sample_targets()[1], **change)
    assert needle in str(err.value)


def test_statuses_and_ids():
    assert STATUSES[0] == "pending" and len(STATUSES) == 6
    assert format_target_id("M1", 7) == "M1-0007"
    with pytest.raises(ConfigError):
        format_target_id("M1", 0)


def test_repeated_target_id_is_refused(tmp_path):
    t = sample_targets()[0]
    with pytest.raises(ConfigError, match="M1-0002.*twice"):
        write_targets_geojson([t, dataclasses.replace(t, rank=5)], tmp_path / "t.geojson")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writing


def _fail_after(real):
    """Run ``real`` (if any: the temporary file then exists), then raise."""

    def wrapper(*args, **kwargs):
        if real is not None:
            real(*args, **kwargs)
        raise RuntimeError("disk full (simulated)")

    return wrapper


@pytest.mark.parametrize(
    ("writer", "module", "attr", "name"),
    [
        (write_targets_gpkg, gpkg_mod, "add_status_domain", "t.gpkg"),
        (write_targets_gpkg, gpkg_mod, "ogr_write", "t.gpkg"),
        (write_targets_gpx, gpx_kml_mod, "_xml_bytes", "t.gpx"),
        (write_targets_kml, gpx_kml_mod, "_xml_bytes", "t.kml"),
        # The rename itself failing: the temporary file is complete, then removed.
        (write_plots_geojson, os, "replace", "p.geojson"),
    ],
)
def test_failed_write_leaves_no_file_and_no_temp(tmp_path, monkeypatch, writer, module, attr, name):
    target = tmp_path / name
    real = None if attr == "replace" else getattr(module, attr)
    monkeypatch.setattr(module, attr, _fail_after(real))

    with pytest.raises(RuntimeError, match="disk full"):
        writer(sample_targets(), target)

    assert list(tmp_path.iterdir()) == []  # neither the output nor a .t.* temporary file


def test_failed_rewrite_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "t.gpkg"
    write_targets_gpkg(sample_targets()[:1], target)
    before = target.read_bytes()
    monkeypatch.setattr(gpkg_mod, "add_status_domain", _fail_after(gpkg_mod.add_status_domain))

    with pytest.raises(RuntimeError):
        write_targets_gpkg(sample_targets(), target)

    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.gpkg"]


# ---------------------------------------------------------------- manifest


def test_run_manifest_records_inputs_outputs_and_settings(tmp_path):
    ortho = tmp_path / "in" / "ortho.tif"
    ortho.parent.mkdir()
    ortho.write_bytes(b"not really a tiff")
    out = tmp_path / "out"
    targets_path = write_targets_geojson(sample_targets(), out / "targets.geojson")

    path = write_run_manifest(
        out / "run.json",
        inputs=[ortho],
        model={"model_id": "poppy-yolo-v1", "imgsz": np.int64(640)},
        thresholds={"conf": 0.25, "iou": 0.5},
        counts={"chips": 12, "targets": 3},
        timings={"inference": 1.23456},
        outputs=[targets_path],
        created_at="2026-11-22T11:00:00Z",
    )
    run = json.loads(path.read_text())

    assert run["schema"] == "poppyscan.run/1"
    assert run["created_at"] == "2026-11-22T11:00:00Z"
    assert run["inputs"] == [
        {
            "name": "ortho.tif",
            "path": str(ortho.as_posix()),
            "bytes": 17,
            "sha256": hashlib.sha256(b"not really a tiff").hexdigest(),
        }
    ]
    assert run["outputs"][0]["path"] == "targets.geojson"
    assert run["outputs"][0]["sha256"] == sha256_file(targets_path)
    assert run["model"] == {"model_id": "poppy-yolo-v1", "imgsz": 640}
    assert run["timings_s"] == {"inference": 1.235}
    assert {"python", "numpy", "shapely", "gdal"} <= set(run["software"])


def test_run_manifest_refuses_a_missing_input(tmp_path):
    with pytest.raises(PoppyscanError, match="nope.tif"):
        write_run_manifest(
            tmp_path / "run.json",
            inputs=[tmp_path / "nope.tif"],
            model={},
            thresholds={},
            counts={},
            timings={},
        )
    assert not (tmp_path / "run.json").exists()


# ---------------------------------------------------------------- write_all


def test_write_all_writes_every_format(tmp_path):
    from shapely.geometry import box

    coverage = ([box(500_000, 2_245_000, 501_000, 2_246_000)], "EPSG:32647")
    paths = write_all(
        tmp_path, sample_targets(), mission="M1", model_id="poppy-yolo-v1", coverage=coverage,
        chips_processed=4, chips_skipped=1,
    )  # fmt: skip

    assert set(paths) == {
        "targets_geojson", "plots_geojson", "gpkg", "gpx", "kml", "coverage", "report",
    }  # fmt: skip
    assert all(p.is_file() and p.parent == tmp_path for p in paths.values())
    assert "1.000 km2" in paths["report"].read_text()


def test_write_all_rejects_unknown_format_listing_choices(tmp_path):
    with pytest.raises(ConfigError, match="shp.*choose from geojson, gpkg, gpx, kml, report"):
        write_all(tmp_path, sample_targets(), mission="M1", model_id="m", formats=["gpkg", "shp"])
    assert FORMATS == ("geojson", "gpkg", "gpx", "kml", "report")
    assert list(tmp_path.iterdir()) == []
