"""Field targets: one suspected plot of a model class, ranked, located and ready to export.

A :class:`Target` is a frozen value type; the exporters in :mod:`detect.export`
read it and never change it (use :func:`dataclasses.replace` to set a thumbnail
or a status).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

from poppyscan.errors import ConfigError

__all__ = ["STATUSES", "Target", "format_target_id"]

# Field-check outcomes, in the order a crew meets them; "pending" = not visited yet.
STATUSES: tuple[str, ...] = (
    "pending",
    "confirmed",
    "false_positive",
    "not_found",
    "inaccessible",
    "eradicated",
)


def format_target_id(mission: str, number: int) -> str:
    """Stable, human-readable id: ``format_target_id("M1", 7) == "M1-0007"``."""
    if number < 1:
        raise ConfigError(f"target number {number} is invalid: numbers start at 1")
    return f"{mission}-{number:04d}"


@dataclass(frozen=True)
class Target:
    """One suspected plot, as handed to field crews."""

    target_id: str  # "<mission>-0001", stable, human-readable
    mission: str
    rank: int  # 1 = visit first
    conf: float  # 0..1, max over merged detections
    area_m2: float  # computed in a projected CRS
    polygon: Polygon | MultiPolygon  # plot outline, WGS84 lon/lat (x=lon, y=lat)
    lon: float  # centroid (computed in the projected CRS, then reprojected)
    lat: float
    sources: tuple[str, ...]  # orthomosaic file names it was seen in
    gsd_m: float
    model_id: str
    detected_at: str  # ISO 8601 UTC, e.g. 2026-11-22T11:00:00Z
    n_detections: int  # raw detections merged into it
    label: str  # the model class it is suspected to be (the most confident detection's)
    status: str = "pending"
    thumbnail: str | None = None  # relative to the output dir, e.g. "thumbs/M1-0001.jpg"
    # The run's own id when target_id is a mission registry's (detect.republish.name_targets).
    run_target_id: str | None = None

    def __post_init__(self) -> None:
        # Accept any iterable of names but store a tuple, so the value stays hashable.
        if isinstance(self.sources, str):
            raise ConfigError(
                f"target {self.target_id}: sources must be a sequence of file names, "
                f"got the string {self.sources!r}"
            )
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        _check(self)

    def properties(self) -> dict[str, Any]:
        """Every field but the polygon, as flat JSON-ready values (sources joined by ';')."""
        return {
            "target_id": self.target_id,
            "mission": self.mission,
            "rank": int(self.rank),
            "conf": round(float(self.conf), 4),
            "area_m2": round(float(self.area_m2), 2),
            "lon": round(float(self.lon), 7),
            "lat": round(float(self.lat), 7),
            "sources": ";".join(self.sources),
            "gsd_m": round(float(self.gsd_m), 4),
            "model_id": self.model_id,
            "detected_at": self.detected_at,
            "n_detections": int(self.n_detections),
            "label": self.label,
            "status": self.status,
            "thumbnail": self.thumbnail,
            **({"run_target_id": self.run_target_id} if self.run_target_id else {}),
        }


def _check(t: Target) -> None:
    """Raise ConfigError naming the field when a value is out of range."""
    problems = []
    if not t.target_id:
        problems.append("target_id is empty")
    if t.status not in STATUSES:
        problems.append(f"status {t.status!r} is not one of {', '.join(STATUSES)}")
    if not (int(t.rank) == t.rank and t.rank >= 1):
        problems.append(f"rank {t.rank!r} must be an integer >= 1")
    if not 0.0 <= t.conf <= 1.0:
        problems.append(f"conf {t.conf!r} must be in [0, 1]")
    if not (math.isfinite(t.area_m2) and t.area_m2 >= 0):
        problems.append(f"area_m2 {t.area_m2!r} must be finite and >= 0")
    if not -180.0 <= t.lon <= 180.0:
        problems.append(f"lon {t.lon!r} must be in [-180, 180] (WGS84 degrees, x=lon)")
    if not -90.0 <= t.lat <= 90.0:
        problems.append(f"lat {t.lat!r} must be in [-90, 90] (WGS84 degrees, y=lat)")
    if not isinstance(t.polygon, (Polygon, MultiPolygon)) or t.polygon.is_empty:
        problems.append(
            f"polygon must be a non-empty shapely Polygon, got {type(t.polygon).__name__}"
        )
    if t.n_detections < 1:
        problems.append(f"n_detections {t.n_detections!r} must be >= 1")
    if problems:
        raise ConfigError(f"target {t.target_id or '<no id>'}: " + "; ".join(problems))
