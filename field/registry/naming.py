"""One name per plot: a recorded run's outputs republished under the registry's target ids.

A crew phoning the office about a target must name the one their package
carries. Once a run is in the registry, :func:`name_run` rewrites its report,
GeoJSON, GeoPackage, GPX, KML and thumbnails with the registry's ids (the run's
own id stays beside each as ``run_target_id``) and points the registry's
sightings at the renamed thumbnails.
"""

from __future__ import annotations

import os
from pathlib import Path

from poppyscan.detect.republish import name_targets
from poppyscan.field.registry.record import record_run
from poppyscan.field.registry.schema import connect

__all__ = ["name_run", "record_and_name"]


def name_run(registry: str | os.PathLike, run_dir: str | os.PathLike, run_id: str) -> int:
    """Give the recorded run ``run_id`` in ``run_dir`` the registry's ids; return how many changed."""
    with connect(registry, write=False) as con:
        names = dict(con.execute("SELECT run_target_id, target_id FROM sightings "
                                 "WHERE run_id = ?", (run_id,)).fetchall())
    changed = name_targets(run_dir, names, named_by=Path(registry).name, run_id=run_id)
    thumbs = Path(run_dir).resolve() / "thumbs"
    with connect(registry) as con:
        rows = con.execute("SELECT sighting_id, target_id, thumbnail FROM sightings "
                           "WHERE run_id = ? AND thumbnail IS NOT NULL", (run_id,)).fetchall()
        for row in rows:
            new = thumbs / f"{row['target_id']}.jpg"
            if not Path(row["thumbnail"]).is_file() and new.is_file():
                con.execute("UPDATE sightings SET thumbnail = ? WHERE sighting_id = ?",
                            (str(new), row["sighting_id"]))
    return changed


def record_and_name(registry: str | os.PathLike, run_dir: str | os.PathLike, **record):
    """:func:`record_run` then :func:`name_run`: the run in the registry, its outputs named by it."""
    summary = record_run(registry, run_dir, **record)
    name_run(registry, run_dir, summary.run_id)
    return summary
