"""Verdicts handed to the registry as records (office review's): import_verdicts' checks, no file."""

from __future__ import annotations

import sqlite3

from poppyscan.field.registry import VerdictRow, record_run, record_verdicts
from tests.detect.export_samples import write_sample_run


def _row(target_id: str, status: str, at: str = "2026-03-02T09:00:00Z") -> VerdictRow:
    return VerdictRow(target_id, status, at, "office", "from the thumbnail", "", where="test")


def test_records_go_in_once_with_the_files_outcomes(tmp_path):
    registry = tmp_path / "area.gpkg"
    record_run(registry, write_sample_run(tmp_path / "run"))
    with sqlite3.connect(registry) as con:
        ids = [r[0] for r in con.execute("SELECT target_id FROM targets ORDER BY fid")]
    rows = [_row(ids[0], "false_positive"), _row(ids[1], "pending"), _row("X-9", "confirmed"),
            _row(ids[2], "burnt")]

    done = record_verdicts(registry, rows, source="review of run")
    assert (done.applied, done.skipped, done.format, done.already) == (1, 1, "records", False)
    assert [why.split(" (")[0] for _, why in done.flagged] == [
        "no such target in the registry", "unknown status 'burnt'"]
    again = record_verdicts(registry, rows, source="review of run")
    assert (again.applied, again.already) == (0, True)
    with sqlite3.connect(registry) as con:
        assert con.execute("SELECT state FROM targets WHERE target_id = ?",
                           (ids[0],)).fetchone() == ("false_positive",)
        assert con.execute("SELECT path, format, n_applied FROM imports").fetchall() == [
            ("review of run", "records", 1)]
