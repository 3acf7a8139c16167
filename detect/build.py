"""From merged clusters to ranked, WGS84 field targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pyproj import CRS, Transformer

from poppyscan.detect.merge import Cluster
from poppyscan.detect.targets import Target, format_target_id
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.tiles.provenance import utc_now

__all__ = ["priority_score", "make_targets"]


def priority_score(conf: float, area_m2: float) -> float:
    """Visit order: confidence first; among equally sure targets, larger plots first.

    ``conf * (0.75 + 0.25 * min(1, area_m2 / 100))``: a plot of 100 m2 or more
    gets the full confidence, a tiny one three quarters of it.
    """
    return conf * (0.75 + 0.25 * min(1.0, area_m2 / 100.0))


def make_targets(
    clusters: Sequence[Cluster],
    crs,
    *,
    mission: str,
    model_id: str,
    gsd_m: float,
    detected_at: str | None = None,
    source_labels: Mapping[str, str] | None = None,
) -> list[Target]:
    """Rank clusters by :func:`priority_score` and number them ``<mission>-0001`` in that order.

    ``crs`` is the clusters' projected CRS: areas and centroids are computed
    there, then reprojected to WGS84. ``source_labels`` names each cluster's
    source paths in ``Target.sources`` (default: the file names).
    """
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ValueError(f"clusters must be in a projected CRS to measure areas, got {crs.name}")
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    detected_at = detected_at or utc_now()
    scored = sorted(
        clusters,
        key=lambda c: (
            -priority_score(c.conf, c.polygon.area),
            c.polygon.centroid.y,
            c.polygon.centroid.x,
        ),
    )
    targets = []
    for rank, cluster in enumerate(scored, start=1):
        centroid = cluster.polygon.centroid
        lon, lat = to_wgs84.transform(centroid.x, centroid.y)
        targets.append(
            Target(
                target_id=format_target_id(mission, rank),
                mission=mission,
                rank=rank,
                conf=round(cluster.conf, 4),
                area_m2=round(cluster.polygon.area, 2),
                polygon=reproject_geometry(cluster.polygon, crs, "EPSG:4326",
                                           max_segment=max(cluster.polygon.length / 64, 0.5)),
                lon=lon,
                lat=lat,
                sources=tuple(source_labels[s] if source_labels else Path(s).name
                              for s in cluster.sources),
                gsd_m=gsd_m,
                model_id=model_id,
                detected_at=detected_at,
                n_detections=len(cluster.members),
            )
        )
    return targets
