"""Which registry targets go into a field package, and what a crew needs to know of each."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import shapely

from poppyscan.detect.build import priority_score
from poppyscan.detect.export._labels import PRIORITIES, target_priority
from poppyscan.errors import ConfigError
from poppyscan.field.registry.gpkg import decode_geometry
from poppyscan.field.registry.schema import connect
from poppyscan.field.registry.state import OPEN_STATES, STATES

__all__ = ["PRIORITIES", "FieldTarget", "select_targets"]

# Why a target is listed again. No status word (confirmed, eradicated...) appears here: in GPX
# and KML text a status word is read back as the crew's verdict.
_NOTES = {"replant": "seen again after eradication", "disputed": "crews disagreed: check well",
          "confirmed": "confirmed standing at the last visit",
          "inaccessible": "last crew could not reach it"}


@dataclass(frozen=True)
class FieldTarget:
    """One target as packaged: registry facts, its outline, and where to find imagery of it."""

    target_id: str
    mission: str
    state: str
    lon: float
    lat: float
    outline: shapely.Geometry  # latest sighting, lon/lat
    conf: float
    area_m2: float
    first_seen: str
    last_seen: str
    n_sightings: int
    n_replants: int
    thumbnail: Path | None  # the latest run's crop, when it still exists
    orthos: tuple[str, ...]  # orthomosaics of the runs that saw it, latest first
    rank: int = 0  # 1 = most urgent in this package
    crew: str = ""  # assigned crew list ("crew 1"), when --crews is given
    visit_order: int = 0  # order within the crew list

    @property
    def priority(self) -> str:
        """``high`` for replants and confirmed plots still standing, else the confidence band."""
        return target_priority(self.conf, self.state)

    @property
    def note(self) -> str:
        """Why this target is on the list again, for crews ('' for a first visit)."""
        return _NOTES.get(self.state, "")


def select_targets(registry: str | os.PathLike, *, mission: str | None = None,
                   states: Sequence[str] = ("open",)) -> list[FieldTarget]:
    """Targets in ``states`` (``open``: every state in OPEN_STATES), most urgent first, ranked."""
    wanted = _states(states)
    with connect(registry, write=False) as con:
        rows = con.execute(
            "SELECT t.*, s.geom AS outline, s.thumbnail, s.flown_at AS latest FROM targets t "
            "JOIN sightings s ON s.fid = (SELECT fid FROM sightings WHERE target_id = t.target_id "
            "ORDER BY flown_at DESC, fid DESC LIMIT 1) ORDER BY t.fid").fetchall()
        inputs = {r["target_id"]: _orthos(con, r["target_id"]) for r in rows}
    picked = [_field_target(r, inputs[r["target_id"]]) for r in rows
              if r["state"] in wanted and (mission is None or r["mission"] == mission)]
    picked.sort(key=lambda t: (PRIORITIES.index(t.priority), -priority_score(t.conf, t.area_m2),
                               t.target_id))
    return [replace(t, rank=i) for i, t in enumerate(picked, start=1)]


def _states(states: Sequence[str]) -> set[str]:
    wanted = set()
    for s in ([states] if isinstance(states, str) else states):
        if s == "open":
            wanted |= OPEN_STATES
        elif s in STATES:
            wanted.add(s)
        else:
            raise ConfigError(f"status {s!r} is not one of open, {', '.join(STATES)}")
    return wanted


def _field_target(r, orthos: tuple[str, ...]) -> FieldTarget:
    point = decode_geometry(r["geom"])
    thumb = Path(r["thumbnail"]) if r["thumbnail"] else None
    return FieldTarget(
        r["target_id"], r["mission"], r["state"], point.x, point.y, decode_geometry(r["outline"]),
        float(r["max_conf"]), float(r["area_m2"]), r["first_seen"], r["last_seen"],
        r["n_sightings"], r["n_replants"], thumb if thumb and thumb.is_file() else None, orthos)


def _orthos(con, target_id: str) -> tuple[str, ...]:
    paths = []
    for (raw,) in con.execute(
            "SELECT r.inputs FROM sightings s JOIN runs r USING (run_id) WHERE s.target_id = ? "
            "ORDER BY s.flown_at DESC, s.fid DESC", (target_id,)):
        paths += [str(rec.get("path") or "") for rec in json.loads(raw)]
    return tuple(dict.fromkeys(p for p in paths if p))
