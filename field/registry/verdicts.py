"""``import_verdicts``: crews' verdicts into the registry, idempotent, never overwriting.

``record_verdicts`` takes verdicts as records (office review's rejections) through
the same checks and outcomes. Each row becomes a verdict whose id is the hash of its content, so a row read
twice (the same file again, or a copy inside a zip) is skipped. A file whose
bytes were imported before is skipped whole. Outcomes:

* ``applied``: the verdict counts (newer than the target's latest, or agreeing);
* ``conflict``: older than (or as old as) the latest verdict of the same crew and
  different from it; kept for the analyst, never applied over the newer one;
* ``disputed``: applied, but two crews now disagree (poppy / no poppy) about
  the target, whose state becomes ``disputed`` until a newer verdict settles it.

Rows that say nothing (status ``pending`` or empty) are skipped; rows naming
an unknown target or status, or an unreadable visit time, are flagged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path

from poppyscan.detect.export.gpkg import STATUS_LABELS
from poppyscan.detect.targets import STATUSES
from poppyscan.field.registry.readers import VerdictFile, VerdictRow, read_verdict_files
from poppyscan.field.registry.refresh import refresh_targets, target_verdicts
from poppyscan.field.registry.schema import connect
from poppyscan.field.registry.timefmt import parse_time
from poppyscan.provenance import utc_now

__all__ = ["ImportSummary", "VerdictRow", "import_verdicts", "normalise_status",
           "record_verdicts"]

_BY_LABEL = {label.lower(): code for code, label in STATUS_LABELS.items()}


@dataclass
class ImportSummary:
    """What one file did: verdicts applied, rows skipped, rows flagged (with why)."""

    path: Path
    format: str
    import_id: str
    n_rows: int = 0
    applied: int = 0
    skipped: int = 0
    flagged: list[tuple[str, str]] = field(default_factory=list)  # (where or target id, why)
    already: bool = False


def normalise_status(text: str) -> str | None:
    """A status code from a code or a drop-down label in any case; None when unknown."""
    key = text.strip().lower()
    code = key.replace(" ", "_").replace("-", "_")
    if code in STATUSES:
        return code
    return _BY_LABEL.get(key)


def import_verdicts(registry: str | os.PathLike,
                    paths: Sequence[str | os.PathLike]) -> list[ImportSummary]:
    """Import every file in ``paths`` (each in its own transaction); one summary per file read."""
    files = [f for p in paths for f in read_verdict_files(p)]  # all readable before any change
    summaries = []
    for vf in files:
        with connect(registry) as con:
            summaries.append(_import_file(con, vf))
    return summaries


def record_verdicts(registry: str | os.PathLike, rows: Sequence[VerdictRow], *,
                    source: str) -> ImportSummary:
    """Import verdict records as one file would be (one transaction, the same outcomes).

    ``source`` says where they come from (the imports table's path). The same
    records again are skipped whole, as a file read twice is.
    """
    digest = hashlib.sha256("\x1e".join("\x1f".join(astuple(r)) for r in rows).encode())
    with connect(registry) as con:
        return _import_file(con, VerdictFile(Path(source), "records", digest.hexdigest(),
                                             list(rows)))


def _import_file(con, vf: VerdictFile) -> ImportSummary:
    summary = ImportSummary(vf.path, vf.format, vf.import_id, n_rows=len(vf.rows))
    if con.execute("SELECT 1 FROM imports WHERE import_id = ?", (vf.import_id,)).fetchone():
        summary.skipped, summary.already = len(vf.rows), True
        return summary
    known = {r[0] for r in con.execute("SELECT target_id FROM targets")}
    checked = [_check(row, known, summary) for row in vf.rows]
    ready = sorted((c for c in checked if c is not None), key=lambda c: (c[2] or "", c[0]))
    recorded_at = utc_now()
    for target_id, status, visited_at, row in ready:
        verdict_id = _verdict_id(target_id, status, visited_at, row)
        if con.execute("SELECT 1 FROM verdicts WHERE verdict_id = ?", (verdict_id,)).fetchone():
            summary.skipped += 1
            continue
        outcome, reason = _outcome(con, target_id, status, visited_at, row.crew)
        con.execute(
            "INSERT INTO verdicts (verdict_id, target_id, status, visited_at, crew, note, photo, "
            "outcome, reason, import_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (verdict_id, target_id, status, visited_at, row.crew, row.note, row.photo, outcome,
             reason, vf.import_id, recorded_at))
        if outcome == "applied" and refresh_targets(con, [target_id])[target_id] == "disputed":
            outcome, reason = "disputed", "crews disagree about this target"
            con.execute("UPDATE verdicts SET outcome = ?, reason = ? WHERE verdict_id = ?",
                        (outcome, reason, verdict_id))
        if outcome == "applied":
            summary.applied += 1
        else:
            summary.flagged.append((target_id, f"{outcome}: {reason} ({row.where})"))
    con.execute(
        "INSERT INTO imports (import_id, path, format, imported_at, n_rows, n_applied, n_skipped, "
        "n_flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (vf.import_id, str(vf.path), vf.format, recorded_at, summary.n_rows, summary.applied,
         summary.skipped, len(summary.flagged)))
    return summary


def _check(row: VerdictRow, known: set[str], summary: ImportSummary):
    """(target_id, status, visited_at, row) of a row worth applying; None when skipped/flagged."""
    status = normalise_status(row.status) if row.status else "pending"
    if status is None:
        summary.flagged.append((row.target_id, f"unknown status {row.status!r} ({row.where})"))
        return None
    if status == "pending":
        summary.skipped += 1  # not visited, or nothing decided
        return None
    if row.target_id not in known:
        summary.flagged.append((row.target_id, f"no such target in the registry ({row.where})"))
        return None
    try:
        visited_at = parse_time(row.visited_at)
    except ValueError:
        summary.flagged.append((row.target_id, f"visit time {row.visited_at!r} unreadable "
                                               f"({row.where})"))
        return None
    return row.target_id, status, visited_at, row


def _outcome(con, target_id: str, status: str, visited_at: str | None, crew: str):
    """("applied" | "conflict", reason) against the target's effective verdicts."""
    same_crew = [v for v in target_verdicts(con, target_id) if v.crew == crew]
    if same_crew:
        latest = same_crew[-1]
        if (visited_at or "") <= (latest.visited_at or "") and status != latest.status:
            return "conflict", (f"{status} at {visited_at or 'no date'} is not newer than "
                                f"{latest.status} at {latest.visited_at or 'no date'}")
    return "applied", ""


def _verdict_id(target_id: str, status: str, visited_at: str | None, row: VerdictRow) -> str:
    text = "\x1f".join([target_id, status, visited_at or "", row.crew, row.note, row.photo])
    return hashlib.sha256(text.encode()).hexdigest()[:32]
