"""``record_run``: a published detection run into the registry, in one transaction.

Each sighting joins the known target it matches (:mod:`.matching`, one to
one, in the run's UTM zone) or becomes a new target with a new registry id.
Known targets inside the run's coverage are logged as seen or *flown, not
seen*; targets outside it are *not flown* by that run (no row). A target
eradicated before the flight and seen again is reopened as a replant (see
:mod:`.state`). Recording the same run again changes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import shapely

from poppyscan.config import defaults
from poppyscan.errors import ConfigError
from poppyscan.field.registry.geo import LocalUTM
from poppyscan.field.registry.gpkg import decode_geometry, encode_geometry
from poppyscan.field.registry.matching import match_sightings
from poppyscan.field.registry.refresh import refresh_targets
from poppyscan.field.registry.runfolder import RunFolder, read_run_folder
from poppyscan.field.registry.schema import connect, next_target_id
from poppyscan.provenance import utc_now

__all__ = ["RecordSummary", "record_run"]


@dataclass(frozen=True)
class RecordSummary:
    """What recording one run did (``already``: it was recorded before; nothing changed)."""

    run_id: str
    mission: str
    flown_at: str
    n_sightings: int
    n_matched: int
    n_new: int
    n_flown_not_seen: int
    n_replants: int
    already: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def record_run(
    registry: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    flown_at: str | None = None,
    position_uncertainty_m: float | None = None,
    prefix: str | None = None,
) -> RecordSummary:
    """Record the run folder ``run_dir`` into ``registry`` (created when missing).

    ``flown_at``: flight date (ISO 8601) when run.json's ``created_at`` is not it.
    ``position_uncertainty_m``: the flight's horizontal georeference error in
    metres (default: run.json's ``settings.position_uncertainty_m``, else
    ``configs/registry.yaml``). ``prefix``: target id prefix of a new registry.
    """
    run = read_run_folder(run_dir, flown_at=flown_at)
    u_m = _uncertainty(run, position_uncertainty_m)
    with connect(registry, create=True, prefix=prefix) as con:
        old = con.execute("SELECT * FROM runs WHERE run_id = ?", (run.run_id,)).fetchone()
        if old is not None:
            return RecordSummary(old["run_id"], old["mission"], old["flown_at"], old["n_sightings"],
                                 old["n_matched"], old["n_new"], old["n_flown_not_seen"],
                                 old["n_replants"], already=True)
        known = _known_targets(con)
        before = {r["target_id"]: r["state"] for r in known}
        _insert_run(con, run, u_m)
        matches = _match(run, known, u_m)
        touched = _insert_sightings(con, run, known, matches)
        not_seen = _insert_flyovers(con, run, known, set(touched.values()))
        states = refresh_targets(con, [*touched.values(), *not_seen])
        replants = sum(s == "replant" and before.get(t) != "replant" for t, s in states.items())
        summary = RecordSummary(run.run_id, run.mission, run.flown_at, len(run.sightings),
                                len(matches), len(run.sightings) - len(matches), len(not_seen),
                                replants)
        con.execute("UPDATE runs SET n_matched = ?, n_new = ?, n_flown_not_seen = ?, "
                    "n_replants = ? WHERE run_id = ?",
                    (summary.n_matched, summary.n_new, summary.n_flown_not_seen, replants,
                     run.run_id))
    return summary


def _uncertainty(run: RunFolder, given: float | None) -> float:
    if given is None:
        given = run.position_uncertainty_m
    u_m = float(defaults("registry")["position_uncertainty_m"] if given is None else given)
    if not 0 < u_m <= 100:
        raise ConfigError(f"position_uncertainty_m={u_m} is invalid: use metres in (0, 100]")
    return u_m


def _known_targets(con) -> list:
    """Every target with its position, uncertainty and latest outline."""
    return con.execute(
        "SELECT t.target_id, t.geom, t.state, t.position_uncertainty_m AS u, "
        "(SELECT s.geom FROM sightings s WHERE s.target_id = t.target_id "
        " ORDER BY s.flown_at DESC, s.fid DESC LIMIT 1) AS outline FROM targets t "
        "ORDER BY t.fid").fetchall()


def _insert_run(con, run: RunFolder, u_m: float) -> None:
    area_km2 = None
    if run.coverage is not None and not run.coverage.is_empty:
        centre = run.coverage.centroid
        area_km2 = LocalUTM(centre.x, centre.y).to_metres(run.coverage).area / 1e6
        con.execute("INSERT INTO coverage (geom, run_id, mission, flown_at, area_km2) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (encode_geometry(_multi(run.coverage)), run.run_id, run.mission, run.flown_at,
                     area_km2))
    con.execute(
        "INSERT INTO runs (run_id, mission, flown_at, created_at, recorded_at, run_dir, model_id, "
        "conf_threshold, gsd_m, position_uncertainty_m, inputs, n_sightings, n_matched, n_new, "
        "n_flown_not_seen, n_replants, coverage_km2) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?)",
        (run.run_id, run.mission, run.flown_at, run.created_at, utc_now(), str(run.run_dir),
         run.model_id, run.conf_threshold, run.gsd_m, u_m, json.dumps(run.inputs),
         len(run.sightings), area_km2))


def _match(run: RunFolder, known: list, u_m: float) -> dict[int, tuple[int, float, str]]:
    """sighting index -> (known target index, distance m, rule)."""
    if not run.sightings or not known:
        return {}
    lon = np.array([s.lon for s in run.sightings])
    lat = np.array([s.lat for s in run.sightings])
    utm = LocalUTM(float(lon.mean()), float(lat.mean()))
    points = [decode_geometry(r["geom"]) for r in known]
    outlines = np.array([decode_geometry(r["outline"]) for r in known], dtype=object)
    has = outlines != None  # noqa: E711
    outlines[has] = utm.to_metres(outlines[has])
    matches = match_sightings(
        utm.xy(lon, lat), utm.to_metres(np.array([s.outline for s in run.sightings], dtype=object)),
        u_m, utm.xy([p.x for p in points], [p.y for p in points]), outlines,
        np.array([r["u"] for r in known], float))
    return {m.sighting: (m.target, m.distance_m, m.rule) for m in matches}


def _insert_sightings(con, run: RunFolder, known: list, matches) -> dict[str, str]:
    """Insert every sighting (new targets first made); return run target id -> target id."""
    touched = {}
    for i, s in enumerate(run.sightings):
        if i in matches:
            j, distance_m, rule = matches[i]
            target_id = known[j]["target_id"]
        else:
            target_id, distance_m, rule = next_target_id(con), None, "new"
            con.execute("INSERT INTO targets (geom, target_id, mission, state, created_run_id) "
                        "VALUES (?, ?, ?, 'pending', ?)",
                        (encode_geometry(shapely.Point(s.lon, s.lat)), target_id, run.mission,
                         run.run_id))
        con.execute(
            "INSERT INTO sightings (geom, sighting_id, run_id, target_id, run_target_id, mission, "
            "flown_at, conf, area_m2, lon, lat, gsd_m, rank, sources, thumbnail, match, "
            "match_distance_m) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (encode_geometry(_multi(s.outline)), f"{run.run_id}/{s.run_target_id}", run.run_id,
             target_id, s.run_target_id, run.mission, run.flown_at, s.conf, s.area_m2, s.lon,
             s.lat, s.gsd_m, s.rank, s.sources, s.thumbnail, rule,
             None if distance_m is None else round(distance_m, 3)))
        touched[s.run_target_id] = target_id
    return touched


def _insert_flyovers(con, run: RunFolder, known: list, seen: set[str]) -> list[str]:
    """Log known targets inside the coverage as seen / not seen; return those not seen."""
    rows = [(t, 1) for t in sorted(seen)]
    if run.coverage is not None and known:
        points = np.array([decode_geometry(r["geom"]) for r in known], dtype=object)
        inside = shapely.intersects(run.coverage, points)
        rows += [(r["target_id"], 0) for r, hit in zip(known, inside, strict=True)
                 if hit and r["target_id"] not in seen]
    con.executemany("INSERT INTO flyovers (run_id, target_id, flown_at, seen) VALUES (?, ?, ?, ?)",
                    [(run.run_id, t, run.flown_at, s) for t, s in rows])
    return [t for t, s in rows if not s]


def _multi(geom: shapely.Geometry) -> shapely.Geometry:
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
