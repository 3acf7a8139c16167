"""The mission registry: repeat flights, flown-not-seen, verdicts, replants, evidence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyogrio
import pytest

from poppyscan.errors import ConfigError
from poppyscan.field.registry import (
    EvidenceRule,
    import_verdicts,
    record_run,
    registry_status,
    verdict_features,
)
from poppyscan.synth import generate_survey
from tests.field.flights import make_flight, publish_run, publish_truth_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders: A (5 cm), B (8 cm, georeference off by 1.5 m E, 1.0 m S), C (later, partial)."""
    root = tmp_path_factory.mktemp("flights")
    a = make_flight(root / "a.tif", gsd_m=0.05)
    b = make_flight(root / "b.tif", gsd_m=0.08, offset_m=(1.5, -1.0))
    c = make_flight(root / "c.tif", gsd_m=0.05, plots=("P1", "P3", "P4", "P5"), covered_x_m=28.0)
    return {
        "A": publish_run([a], root / "run-a", mission="M1", created_at="2026-03-01T08:00:00Z"),
        "B": publish_run([b], root / "run-b", mission="M2", created_at="2026-03-10T08:00:00Z"),
        "C": publish_run([c], root / "run-c", mission="M3", created_at="2026-04-20T08:00:00Z"),
    }


def _rows(reg, sql, *args):
    con = sqlite3.connect(reg)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _nearest(reg, x_m: float, y_m: float) -> str:
    from pyproj import Transformer

    from tests.data.rasters import ORIGIN

    lon, lat = Transformer.from_crs("EPSG:32647", "EPSG:4326", always_xy=True).transform(
        ORIGIN[0] + x_m, ORIGIN[1] - y_m)
    rows = _rows(reg, "SELECT target_id, lon, lat FROM sightings")
    return min(rows, key=lambda r: (r[1] - lon) ** 2 + (r[2] - lat) ** 2)[0]


def test_repeat_flight_at_another_gsd_with_offset_adds_no_duplicates(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    first = record_run(reg, runs["A"])
    second = record_run(reg, runs["B"])
    assert (first.n_sightings, first.n_new, first.n_matched) == (6, 6, 0)
    assert (second.n_sightings, second.n_new, second.n_matched) == (6, 0, 6)
    assert _rows(reg, "SELECT COUNT(*) FROM targets") == [(6,)]
    # Every target was seen once by each flight: one to one, the neighbours P4/P5 kept apart.
    per_target = _rows(reg, "SELECT target_id, COUNT(DISTINCT run_id), COUNT(*) FROM sightings "
                            "GROUP BY target_id")
    assert sorted(n for _, n, _ in per_target) == [2] * 6 and all(k == 2 for *_, k in per_target)
    distances = [d for (d,) in _rows(reg, "SELECT match_distance_m FROM sightings "
                                          "WHERE match != 'new'")]
    assert all(1.5 <= d <= 2.2 for d in distances), distances  # the 1.8 m georeference offset
    ids = [t for (t,) in _rows(reg, "SELECT target_id FROM targets ORDER BY target_id")]
    assert ids == [f"AREA-{n:05d}" for n in range(1, 7)]


def test_synthetic_survey_reflown_at_8cm_off_by_2m_adds_no_target(tmp_path):
    surveys = [generate_survey(tmp_path / f"s{i}", seed=11, size_px=size, gsd_m=gsd,
                               plot_density_per_ha=80)
               for i, (size, gsd) in enumerate([((768, 768), 0.05), ((480, 480), 0.08)])]
    first = publish_truth_run(surveys[0], tmp_path / "r0", mission="S1",
                              created_at="2026-02-01T08:00:00Z")
    again = publish_truth_run(surveys[1], tmp_path / "r1", mission="S2",
                              created_at="2026-02-20T08:00:00Z", offset_m=(-1.2, 1.6))
    reg = tmp_path / "area.gpkg"
    n_plots = len(surveys[0].plots)
    assert record_run(reg, first).n_new == n_plots >= 5
    second = record_run(reg, again)
    assert (second.n_matched, second.n_new, second.n_flown_not_seen) == (n_plots, 0, 0)
    pairs = _rows(reg, "SELECT a.run_target_id, b.run_target_id FROM sightings a JOIN sightings b "
                       "USING (target_id) WHERE a.mission = 'S1' AND b.mission = 'S2'")
    # Both runs rank the plots by area: a match pairs the same rank, so the same plot.
    assert sorted(a[3:] for a, _ in pairs) == sorted(b[3:] for _, b in pairs)


def test_recording_the_same_run_twice_changes_nothing(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    before = reg.read_bytes()
    again = record_run(reg, runs["A"])
    assert again.already and again.n_new == 6
    assert reg.read_bytes() == before


def test_registry_is_a_geopackage_gdal_reads(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    layers = dict(pyogrio.list_layers(reg))
    assert layers["targets"] == "Point" and layers["sightings"] == "MultiPolygon"
    assert layers["runs"] is None and layers["coverage"] == "MultiPolygon"
    meta, _, geoms, fields = pyogrio.raw.read(reg, layer="targets")
    assert len(geoms) == 6 and meta["crs"] == "EPSG:4326"
    assert set(fields[list(meta["fields"]).index("state")]) == {"pending"}


def test_flown_not_seen_differs_from_not_flown(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    later = record_run(reg, runs["C"])  # P2 flown but gone; P6 outside C's coverage
    assert (later.n_matched, later.n_new, later.n_flown_not_seen) == (4, 0, 1)
    p2, p6 = _nearest(reg, 13.5, 5.25), _nearest(reg, 32, 24)
    flyovers = dict(_rows(reg, "SELECT target_id, seen FROM flyovers WHERE run_id = ?",
                          _rows(reg, "SELECT run_id FROM runs WHERE mission = 'M3'")[0][0]))
    assert flyovers[p2] == 0 and p6 not in flyovers
    status = {t.target_id: t for t in registry_status(reg).targets}
    assert status[p2].n_flown_not_seen == 1 and status[p6].n_flown_not_seen == 0


def _csv(path, rows):
    lines = ["target_id,status,visited_at,crew,note,photo"]
    lines += [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eradicated_then_replanted_reopens(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    p1, p3 = _nearest(reg, 6, 6), _nearest(reg, 24, 13.5)
    import_verdicts(reg, [_csv(tmp_path / "v.csv", [
        (p1, "eradicated", "2026-03-05T09:00:00Z", "crew 1", "slashed", "DCIM/p1.jpg"),
        (p3, "eradicated", "2026-04-25T09:00:00Z", "crew 1", "", "")])])
    summary = record_run(reg, runs["C"])  # flown 2026-04-20: after P1's visit, before P3's
    states = dict(_rows(reg, "SELECT target_id, state FROM targets"))
    assert states[p1] == "replant" and states[p3] == "eradicated"
    assert summary.n_replants == 1
    assert _rows(reg, "SELECT n_replants FROM targets WHERE target_id = ?", p1) == [(1,)]


def test_verdicts_import_once_and_conflicts_are_flagged(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    p1, p2 = _nearest(reg, 6, 6), _nearest(reg, 13.5, 5.25)
    newer = _csv(tmp_path / "newer.csv", [
        (p1, "confirmed", "2026-03-05T10:00:00Z", "crew 1", "", ""),
        (p2, "Not found at location", "2026-03-05T11:00:00", "crew 1", "", ""),
        ("AREA-00999", "confirmed", "2026-03-05", "crew 1", "", ""),
        (p1, "pending", "", "", "", "")])
    first = import_verdicts(reg, [newer])[0]
    assert (first.applied, first.skipped, len(first.flagged)) == (2, 1, 1)
    assert "no such target" in first.flagged[0][1]
    before = reg.read_bytes()
    again = import_verdicts(reg, [newer])[0]
    assert again.already and again.applied == 0 and reg.read_bytes() == before
    older = _csv(tmp_path / "older.csv", [(p1, "false_positive", "2026-03-04", "crew 1", "", "")])
    conflict = import_verdicts(reg, [older])[0]
    assert conflict.applied == 0 and "conflict" in conflict.flagged[0][1]
    assert dict(_rows(reg, "SELECT target_id, state FROM targets"))[p1] == "confirmed"
    other = _csv(tmp_path / "crew2.csv", [(p1, "false_positive", "2026-03-06", "crew 2", "", "")])
    disputed = import_verdicts(reg, [other])[0]
    assert "disputed" in disputed.flagged[0][1]
    assert dict(_rows(reg, "SELECT target_id, state FROM targets"))[p1] == "disputed"


def test_verdict_features_follow_the_evidence_rule(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    p1, p2, p3 = _nearest(reg, 6, 6), _nearest(reg, 13.5, 5.25), _nearest(reg, 24, 13.5)
    import_verdicts(reg, [_csv(tmp_path / "v.csv", [
        (p1, "confirmed", "2026-03-05", "crew 1", "", "DCIM/p1.jpg"),
        (p2, "false_positive", "2026-03-05", "crew 1", "", ""),
        (p3, "confirmed", "", "crew 1", "", "DCIM/p3.jpg")])])  # no visit date: no evidence
    found = verdict_features(reg, EvidenceRule())
    assert found.positive_ids == (p1,) and found.negative_ids == (p2,)
    assert found.rejected == {"no visit date": 1}
    assert found.positives[0].geom_type == "Polygon" and 15 < _area_m2(found.positives[0]) < 18
    strict = verdict_features(reg, EvidenceRule(require_photo=True))
    assert strict.positive_ids == (p1,) and strict.negative_ids == ()
    assert verdict_features(reg, EvidenceRule(visited_since="2026-03-06")).positive_ids == ()
    with pytest.raises(ConfigError, match="pending"):
        EvidenceRule(positive=("pending",))


def _area_m2(polygon) -> float:
    from poppyscan.field.registry.geo import LocalUTM

    c = polygon.centroid
    return LocalUTM(c.x, c.y).to_metres(polygon).area


def test_registry_status_counts_per_mission(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    record_run(reg, runs["B"])
    status = registry_status(reg)
    (m1,) = [m for m in status.missions if m.mission == "M1"]
    assert (m1.runs, m1.targets, m1.sightings, m1.open) == (1, 6, 6, 6)
    (m2,) = [m for m in status.missions if m.mission == "M2"]
    assert (m2.runs, m2.targets, m2.sightings) == (1, 0, 6)


def test_not_a_registry_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.gpkg"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ConfigError, match="x.gpkg"):
        registry_status(bad)
    with pytest.raises(ConfigError, match="no such registry"):
        registry_status(tmp_path / "missing.gpkg")


def test_run_json_run_id_and_extra_keys_are_used_and_tolerated(runs, tmp_path):
    import json
    import shutil

    run = Path(shutil.copytree(runs["A"], tmp_path / "run"))
    manifest = json.loads((run / "run.json").read_text())
    manifest.update(run_id="2026-03-01-abc", files=[{"path": "x", "sha256": "0" * 64}])
    (run / "run.json").write_text(json.dumps(manifest))
    reg = tmp_path / "area.gpkg"
    assert record_run(reg, run, flown_at="2026-02-28").run_id == "2026-03-01-abc"
    assert _rows(reg, "SELECT run_id, flown_at FROM runs") == [("2026-03-01-abc",
                                                              "2026-02-28T00:00:00Z")]


def test_a_read_only_registry_still_reports(runs, tmp_path):
    reg = tmp_path / "area.gpkg"
    record_run(reg, runs["A"])
    reg.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert len(registry_status(reg).targets) == 6
    finally:
        tmp_path.chmod(0o755)
