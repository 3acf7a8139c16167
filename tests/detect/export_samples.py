"""Hand-made targets for the export tests: WGS84 plots near lon 98.5, lat 20.3."""

from __future__ import annotations

from shapely.geometry import Polygon

from poppyscan.detect.targets import Target

LON0, LAT0 = 98.5, 20.3


def ccw_with_hole() -> Polygon:
    """About 42 x 33 m, outer ring counter-clockwise, hole counter-clockwise too.

    The hole has the wrong winding on purpose: RFC 7946 wants holes clockwise.
    """
    outer = [(LON0, LAT0), (LON0 + 4e-4, LAT0), (LON0 + 4e-4, LAT0 + 3e-4), (LON0, LAT0 + 3e-4)]
    hole = [
        (LON0 + 1e-4, LAT0 + 1e-4),
        (LON0 + 2e-4, LAT0 + 1e-4),
        (LON0 + 2e-4, LAT0 + 2e-4),
        (LON0 + 1e-4, LAT0 + 2e-4),
    ]
    return Polygon(outer, [hole])


def clockwise() -> Polygon:
    """A clockwise outer ring (wrong for RFC 7946) with more than 7 decimals."""
    x, y = LON0 + 0.00123456789, LAT0 + 0.00098765432
    return Polygon([(x, y), (x, y + 2.5e-4), (x + 2.5e-4, y + 2.5e-4), (x + 2.5e-4, y)])


def triangle() -> Polygon:
    x, y = LON0 - 0.0021, LAT0 + 0.0017
    return Polygon([(x, y), (x + 1.5e-4, y), (x, y + 1.5e-4)])


def sample_targets() -> list[Target]:
    """Three targets, deliberately not in rank order."""
    common = dict(
        mission="M1", gsd_m=0.05, model_id="poppy-yolo-v1", detected_at="2026-11-22T11:00:00Z",
        label="poppy",
    )

    def make(rank, conf, area_m2, polygon, sources, n, **kw):
        c = polygon.centroid
        return Target(
            target_id=f"M1-{rank:04d}",
            rank=rank,
            conf=conf,
            area_m2=area_m2,
            polygon=polygon,
            lon=c.x,
            lat=c.y,
            sources=sources,
            n_detections=n,
            **common,
            **kw,
        )

    return [
        make(2, 0.62, 668.1, clockwise(), ("ortho_b.tif",), 2),
        make(1, 0.91, 1250.4, ccw_with_hole(), ("ortho_a.tif", "ortho_b.tif"), 5),
        make(3, 0.31, 131.9, triangle(), ("ortho_a.tif",), 1, status="confirmed"),
    ]


def write_sample_run(out, *, created_at: str = "2026-03-01T08:00:00Z"):
    """A run folder of the three sample targets (all pending), as detect writes it; its path."""
    import dataclasses

    from poppyscan.detect.export import write_all, write_run_manifest

    targets = [dataclasses.replace(t, status="pending") for t in sample_targets()]
    written = write_all(out, targets, mission="M1", model_id="m1",
                        formats=("geojson", "gpx", "kml"))
    write_run_manifest(out / "run.json", inputs=[], model={"model_id": "m1"},
                       thresholds={"conf": 0.25}, counts={"targets": len(targets)}, timings={},
                       outputs=list(written.values()), settings={"mission": "M1"},
                       created_at=created_at)
    return out
