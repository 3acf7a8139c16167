"""The package's GPX (waypoints, a route per crew) and KMZ (thumbnails, a folder per crew).

Both go through detect's one writer (:mod:`poppyscan.detect.export.gpx_kml`), so
a target has the symbol and description it has in the run's GPX and KML; the
package adds what only the registry and the crew lists know: sightings, the
crew list and stop, why the target is listed again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from poppyscan.detect.export._labels import target_description
from poppyscan.detect.export.gpx_kml import Waypoint, write_gpx, write_kmz
from poppyscan.field.selection import FieldTarget
from poppyscan.provenance import utc_now

__all__ = ["field_waypoint", "write_field_gpx", "write_field_kmz"]


def field_waypoint(t: FieldTarget) -> Waypoint:
    """A packaged target as a waypoint: named by its id alone (crews write verdicts after it)."""
    more = [f"Seen {t.n_sightings}x, last {t.last_seen[:10]}"]
    if t.crew:
        more.append(f"{t.crew}, stop {t.visit_order}")
    if t.note:
        more.append(t.note.capitalize())
    return Waypoint(
        t.target_id, t.target_id, t.lon, t.lat, t.outline, t.priority,
        target_description(t.target_id, t.conf, t.area_m2, priority=t.priority, more=more),
        comment=f"rank {t.rank}, {t.priority}, {t.area_m2:.0f} m2",
        kind=f"target ({t.priority} priority)",
        data=(("target_id", t.target_id), ("rank", t.rank), ("priority", t.priority),
              ("crew_list", t.crew), ("visit_order", t.visit_order),
              ("conf", round(t.conf, 3)), ("area_m2", round(t.area_m2, 1))),
        thumbnail=t.thumbnail, crew=t.crew, visit_order=t.visit_order)


def write_field_gpx(targets: Sequence[FieldTarget], path: str | os.PathLike, *,
                    title: str) -> Path:
    """One waypoint per target (rank order) and, with crews, one route per crew list."""
    return write_gpx([field_waypoint(t) for t in targets], path, title=title,
                     created_at=utc_now())


def write_field_kmz(targets: Sequence[FieldTarget], path: str | os.PathLike, *,
                    title: str) -> Path:
    """Styled placemarks with thumbnails, a folder per crew list, and the plot outlines."""
    return write_kmz([field_waypoint(t) for t in targets], path, title=title)
