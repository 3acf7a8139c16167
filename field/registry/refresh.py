"""Recompute a target's derived columns from its sightings, flyovers and verdicts.

Called after every change that touches a target, so ``targets`` always agrees
with the history tables (and the history alone could rebuild it).
The position is the mean of the sightings' centroids weighted by each run's
1/uncertainty^2; the uncertainty kept is the smallest of those runs (flights
share errors, so averaging is not trusted to shrink it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np
from shapely.geometry import Point

from poppyscan.field.registry.gpkg import encode_geometry
from poppyscan.field.registry.state import VerdictEvent, derive_state

__all__ = ["EFFECTIVE_OUTCOMES", "refresh_targets", "target_verdicts"]

EFFECTIVE_OUTCOMES = ("applied", "disputed")  # verdicts that count; conflicts are kept aside


def target_verdicts(con: sqlite3.Connection, target_id: str) -> list[VerdictEvent]:
    """The effective verdicts of one target, oldest first."""
    rows = con.execute(
        "SELECT status, visited_at, crew FROM verdicts WHERE target_id = ? AND outcome IN "
        f"({','.join('?' * len(EFFECTIVE_OUTCOMES))}) ORDER BY visited_at, fid",
        (target_id, *EFFECTIVE_OUTCOMES)).fetchall()
    return [VerdictEvent(r["status"], r["visited_at"], r["crew"]) for r in rows]


def refresh_targets(con: sqlite3.Connection, target_ids: Iterable[str]) -> dict[str, str]:
    """Update every derived column of ``target_ids``; return target_id -> new state."""
    states = {}
    for target_id in sorted(set(target_ids)):
        sightings = con.execute(
            "SELECT s.flown_at, s.lon, s.lat, s.conf, s.area_m2, r.position_uncertainty_m AS u "
            "FROM sightings s JOIN runs r USING (run_id) WHERE s.target_id = ? "
            "ORDER BY s.flown_at, s.fid", (target_id,)).fetchall()
        flyovers = con.execute(
            "SELECT MAX(flown_at), SUM(seen = 0) FROM flyovers WHERE target_id = ?",
            (target_id,)).fetchone()
        verdicts = target_verdicts(con, target_id)
        derived = derive_state([s["flown_at"] for s in sightings], verdicts)
        u = np.array([s["u"] for s in sightings], float)
        w = 1.0 / np.maximum(u, 0.01) ** 2
        lon = float(np.average([s["lon"] for s in sightings], weights=w))
        lat = float(np.average([s["lat"] for s in sightings], weights=w))
        last_flown = max(filter(None, [flyovers[0], sightings[-1]["flown_at"]]))
        con.execute(
            "UPDATE targets SET geom = ?, state = ?, first_seen = ?, last_seen = ?, "
            "last_flown = ?, n_sightings = ?, n_flown_not_seen = ?, n_verdicts = ?, "
            "n_replants = ?, last_verdict_at = ?, max_conf = ?, area_m2 = ?, "
            "position_uncertainty_m = ? WHERE target_id = ?",
            (encode_geometry(Point(lon, lat)), derived.state, sightings[0]["flown_at"],
             sightings[-1]["flown_at"], last_flown, len(sightings), int(flyovers[1] or 0),
             len(verdicts), derived.n_replants,
             max((v.visited_at for v in verdicts if v.visited_at), default=None),
             max(s["conf"] for s in sightings), sightings[-1]["area_m2"], float(u.min()),
             target_id))
        states[target_id] = derived.state
    return states
