"""What the registry holds, per mission and per target (``poppyscan registry status``)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass

import shapely.geometry

from poppyscan.field.registry.gpkg import decode_geometry
from poppyscan.field.registry.schema import connect
from poppyscan.field.registry.state import OPEN_STATES, STATES

__all__ = ["MissionStatus", "RegistryStatus", "TargetRow", "mission_coverage", "registry_status"]


@dataclass(frozen=True)
class TargetRow:
    target_id: str
    mission: str
    state: str
    n_sightings: int
    n_flown_not_seen: int
    n_verdicts: int
    n_conflicts: int
    n_replants: int
    last_seen: str | None
    last_verdict_at: str | None
    max_conf: float | None
    area_m2: float | None
    lon: float
    lat: float


@dataclass(frozen=True)
class MissionStatus:
    """Counts for one mission (targets belong to the mission that first saw them)."""

    mission: str
    runs: int
    targets: int
    sightings: int
    verdicts: int
    open: int
    states: dict[str, int]  # every state in STATES -> count
    replants: int  # reopenings, summed over targets
    flown_not_seen: int


@dataclass(frozen=True)
class RegistryStatus:
    missions: list[MissionStatus]
    targets: list[TargetRow]
    imports: int
    conflicts: int

    def to_dict(self) -> dict:
        return asdict(self)


def registry_status(registry: str | os.PathLike, *, mission: str | None = None) -> RegistryStatus:
    """Per-mission counts and one row per target (optionally of ``mission`` only)."""
    with connect(registry, write=False) as con:
        conflicts = Counter(r[0] for r in con.execute(
            "SELECT target_id FROM verdicts WHERE outcome = 'conflict'"))
        rows = con.execute(
            "SELECT * FROM targets ORDER BY target_id").fetchall()
        targets = [_target_row(r, conflicts[r["target_id"]]) for r in rows
                   if mission is None or r["mission"] == mission]
        by_mission = _runs_by_mission(con)
        missions = sorted({t.mission for t in targets} | set(by_mission))
        if mission is not None:
            missions = [m for m in missions if m == mission]
        sightings = dict(con.execute("SELECT mission, COUNT(*) FROM sightings GROUP BY mission"))
        imports = con.execute("SELECT COUNT(*) FROM imports").fetchone()[0]
    return RegistryStatus(
        [_mission(m, [t for t in targets if t.mission == m], by_mission.get(m, 0),
                  sightings.get(m, 0)) for m in missions],
        targets, imports, sum(conflicts.values()))


def mission_coverage(registry: str | os.PathLike, mission: str) -> dict:
    """Every run's coverage of ``mission`` as a GeoJSON FeatureCollection (EPSG:4326)."""
    with connect(registry, write=False) as con:
        rows = con.execute("SELECT geom, run_id, flown_at, area_km2 FROM coverage WHERE mission = ? "
                           "ORDER BY flown_at", (mission,)).fetchall()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(decode_geometry(r["geom"])),
         "properties": {"run_id": r["run_id"], "flown_at": r["flown_at"],
                        "area_km2": r["area_km2"]}} for r in rows]}


def _runs_by_mission(con) -> dict[str, int]:
    return dict(con.execute("SELECT mission, COUNT(*) FROM runs GROUP BY mission").fetchall())


def _target_row(r, n_conflicts: int) -> TargetRow:
    point = decode_geometry(r["geom"])
    return TargetRow(r["target_id"], r["mission"], r["state"], r["n_sightings"],
                     r["n_flown_not_seen"], r["n_verdicts"], n_conflicts, r["n_replants"],
                     r["last_seen"], r["last_verdict_at"], r["max_conf"], r["area_m2"],
                     round(point.x, 7), round(point.y, 7))


def _mission(mission: str, targets: list[TargetRow], runs: int, sightings: int) -> MissionStatus:
    states = Counter(t.state for t in targets)
    return MissionStatus(
        mission, runs, len(targets), sightings, sum(t.n_verdicts for t in targets),
        sum(states[s] for s in OPEN_STATES), {s: states[s] for s in STATES},
        sum(t.n_replants for t in targets), sum(t.n_flown_not_seen for t in targets))
