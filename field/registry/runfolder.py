"""A published detection run folder, read back: run.json, plot outlines and coverage.

The registry depends on the folder, not on the code that wrote it: extra keys
in ``run.json`` are ignored, and a run without ``run_id`` gets one from the
hash of its ``run.json``. Outlines come from ``plots.geojson``; without it, from
``targets.geojson`` as circles of the target's area.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, shape

from poppyscan.detect.export.manifest import MANIFEST, read_run
from poppyscan.errors import ConfigError
from poppyscan.field.registry.geo import buffer_m
from poppyscan.field.registry.timefmt import iso_utc
from poppyscan.provenance import sha256_file

__all__ = ["RunFolder", "Sighting", "read_run_folder"]


@dataclass(frozen=True)
class Sighting:
    """One target of a run: where, how sure, how big (lon/lat outline)."""

    run_target_id: str
    outline: shapely.Geometry  # Polygon or MultiPolygon, EPSG:4326
    lon: float
    lat: float
    conf: float
    area_m2: float
    rank: int | None = None
    gsd_m: float | None = None
    sources: str = ""
    thumbnail: str | None = None  # absolute path, when the run has one


@dataclass(frozen=True)
class RunFolder:
    """What the registry needs of one run."""

    run_id: str
    run_dir: Path
    mission: str
    created_at: str | None
    flown_at: str
    model_id: str | None
    conf_threshold: float | None
    gsd_m: float | None
    inputs: list[dict]
    sightings: list[Sighting]
    coverage: shapely.Geometry | None  # EPSG:4326; None when the run has no coverage.geojson
    position_uncertainty_m: float | None = None  # run.json's settings, when the run gave one


def read_run_folder(run_dir: str | os.PathLike, *, flown_at: str | None = None) -> RunFolder:
    """Read ``run_dir``; ``flown_at`` (ISO date or time) overrides run.json's flight date.

    Without ``flown_at``, the flight date is run.json's ``flown_at`` when present,
    else its ``created_at`` (the detection time).
    """
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    manifest = read_run(run_dir)
    settings = manifest.get("settings") or {}
    model = manifest.get("model") or {}
    sightings = _sightings(run_dir)
    mission = settings.get("mission") or (sightings[0].run_target_id.rpartition("-")[0]
                                          if sightings else run_dir.name)
    when = flown_at or manifest.get("flown_at") or manifest.get("created_at")
    if not when:
        raise ConfigError(f"{manifest_path}: no created_at or flown_at; pass the flight date")
    return RunFolder(
        run_id=str(manifest.get("run_id") or "run-" + sha256_file(manifest_path)[:16]),
        run_dir=run_dir.resolve(), mission=str(mission), created_at=manifest.get("created_at"),
        flown_at=iso_utc(when, what=f"{manifest_path} flight date"),
        model_id=model.get("model_id"),
        conf_threshold=(manifest.get("thresholds") or {}).get("conf"),
        gsd_m=(model.get("grid") or {}).get("gsd_m"), inputs=list(manifest.get("inputs") or []),
        sightings=sightings, coverage=_coverage(run_dir / "coverage.geojson"),
        position_uncertainty_m=settings.get("position_uncertainty_m"),
    )


def _features(path: Path) -> list[dict]:
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        return list(collection["features"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: not a GeoJSON FeatureCollection ({err})") from None


def _sightings(run_dir: Path) -> list[Sighting]:
    plots, points = run_dir / "plots.geojson", run_dir / "targets.geojson"
    path = plots if plots.is_file() else points
    if not path.is_file():
        raise ConfigError(f"{run_dir}: neither plots.geojson nor targets.geojson; not a run folder")
    out = []
    for feature in _features(path):
        props = feature.get("properties") or {}
        try:
            geom = shape(feature["geometry"])
            lon, lat = float(props["lon"]), float(props["lat"])
            area_m2 = float(props["area_m2"])
            # A run named by a registry keeps its own id beside (detect.republish.name_targets).
            target_id = str(props.get("run_target_id") or props["target_id"])
            conf = float(props["conf"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{path}: a feature lacks {err} (target_id, conf, area_m2, lon, "
                              "lat and a geometry are needed)") from None
        if geom.geom_type not in ("Polygon", "MultiPolygon"):  # targets.geojson: a point
            geom = buffer_m(Point(lon, lat), math.sqrt(max(area_m2, 0.01) / math.pi))
        thumb = props.get("thumbnail")
        out.append(Sighting(
            target_id, geom, lon, lat, conf, area_m2, rank=props.get("rank"),
            gsd_m=props.get("gsd_m"), sources=str(props.get("sources") or ""),
            thumbnail=str((run_dir / thumb).resolve()) if thumb else None))
    return out


def _coverage(path: Path) -> shapely.Geometry | None:
    if not path.is_file():
        return None
    geoms = [shape(f["geometry"]) for f in _features(path) if f.get("geometry")]
    return shapely.union_all(geoms) if geoms else None
