"""From merged clusters to ranked, WGS84 field targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pyproj import CRS, Transformer

from poppyscan.detect.merge import Cluster
from poppyscan.detect.targets import Target, format_target_id
from poppyscan.provenance import utc_now
from poppyscan.tiles.geometry import reproject_geometry

__all__ = ["priority_score", "make_targets"]


def priority_score(conf: float, area_m2: float, full_area_m2: float = 100.0) -> float:
    """Visit order: confidence first; among equally sure targets, larger plots first.

    ``conf * (0.75 + 0.25 * min(1, area_m2 / full_area_m2))``: a plot of
    ``full_area_m2`` or more (per class in the model card, 100 m2 for poppy)
    gets the full confidence, a tiny one three quarters of it.
    """
    return conf * (0.75 + 0.25 * min(1.0, area_m2 / full_area_m2))


def make_targets(
    clusters: Sequence[Cluster],
    crs,
    *,
    mission: str,
    model_id: str,
    gsd_m: float,
    class_names: Sequence[str],
    detected_at: str | None = None,
    source_labels: Mapping[str, str] | None = None,
    full_area_m2: Mapping[str, float] | None = None,
) -> list[Target]:
    """Rank clusters by :func:`priority_score` and number them ``<mission>-0001`` in that order.

    ``crs`` is the clusters' projected CRS: areas and centroids are computed
    there, then reprojected to WGS84. ``source_labels`` names each cluster's
    source paths in ``Target.sources`` (default: the file names). A target's
    label is the class of its most confident detection; ``full_area_m2``
    (class -> m2, default 100) sets the size that earns full priority.
    """
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ValueError(f"clusters must be in a projected CRS to measure areas, got {crs.name}")
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def area_for(label: str) -> float:
        return float((full_area_m2 or {}).get(label, 100.0))

    detected_at = detected_at or utc_now()
    scored = sorted(
        clusters,
        key=lambda c: (
            -priority_score(c.conf, c.polygon.area, area_for(_label(c, class_names))),
            c.polygon.centroid.y,
            c.polygon.centroid.x,
        ),
    )
    common = dict(mission=mission, gsd_m=gsd_m, model_id=model_id, detected_at=detected_at)
    targets = []
    for rank, cluster in enumerate(scored, start=1):
        centroid = cluster.polygon.centroid
        lon, lat = to_wgs84.transform(centroid.x, centroid.y)
        sources = tuple(source_labels[s] if source_labels else Path(s).name
                        for s in cluster.sources)
        polygon = reproject_geometry(cluster.polygon, crs, "EPSG:4326",
                                     max_segment=max(cluster.polygon.length / 64, 0.5))
        targets.append(Target(
            target_id=format_target_id(mission, rank), rank=rank, conf=round(cluster.conf, 4),
            area_m2=round(cluster.polygon.area, 2), polygon=polygon, lon=lon, lat=lat,
            sources=sources, n_detections=len(cluster.members),
            label=_label(cluster, class_names), **common))
    return targets


def _label(cluster: Cluster, class_names: Sequence[str]) -> str:
    """The class of the cluster's most confident detection."""
    best = max(cluster.members, key=lambda d: d.conf)
    return class_names[best.cls] if 0 <= best.cls < len(class_names) else f"class {best.cls}"
