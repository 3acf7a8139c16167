"""Repeat flights over one constructed field, and published run folders made from them.

The field is 40 m x 30 m of UTM 47N ground holding six red plots (ground
metres from its north-west corner, x east, y south). A flight renders the plots
it is given at its GSD; ``offset_m`` moves its georeference (the raster shows
the same ground, but its transform is off by that much, as a drone's GNSS is).
Detection uses the real pipeline with :class:`tests.detect.marks.MarkPredictor`
and the run folder is written by the detect/export writers, so the registry
reads exactly what ``poppyscan detect`` publishes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import shapely
import shapely.affinity
from pyproj import Transformer

from poppyscan.detect.build import make_targets
from poppyscan.detect.export import write_all, write_run_manifest, write_thumbnail
from poppyscan.detect.pipeline import run_detection
from poppyscan.detect.runtime import Runtime
from poppyscan.detect.targets import Target, format_target_id
from poppyscan.tiles import GridSpec
from poppyscan.tiles.geometry import reproject_geometry
from tests.data.rasters import ORIGIN
from tests.detect.marks import MarkPredictor, make_marked_raster

FIELD_M = (40.0, 30.0)
PLOTS_M = {  # name -> (x0, y0, x1, y1) ground metres
    "P1": (4.0, 4.0, 8.0, 8.0),  # 16 m2
    "P2": (12.0, 4.0, 15.0, 6.5),  # 7.5 m2
    "P3": (20.0, 10.0, 28.0, 17.0),  # 56 m2, across several chips
    "P4": (5.0, 20.0, 8.0, 23.0),  # P4 and P5: neighbours 3 m apart, centres 6 m apart
    "P5": (11.0, 20.0, 14.0, 23.0),
    "P6": (30.0, 22.0, 34.0, 26.0),
}
GRID = GridSpec(gsd_m=0.05, tile_px=256, overlap_px=64)


def make_flight(path: Path, *, gsd_m: float, plots=tuple(PLOTS_M), offset_m=(0.0, 0.0),
                covered_x_m: float | None = None) -> Path:
    """An orthomosaic of the field at ``gsd_m``; only ``x < covered_x_m`` flown when given."""
    width, height = round(FIELD_M[0] / gsd_m), round(FIELD_M[1] / gsd_m)
    marks = [tuple(round(v / gsd_m) for v in PLOTS_M[name]) for name in plots]
    alpha_box = None if covered_x_m is None else (0, 0, round(covered_x_m / gsd_m), height)
    origin = (ORIGIN[0] + offset_m[0], ORIGIN[1] + offset_m[1])
    return make_marked_raster(path, (width, height), marks, gsd_m=gsd_m, origin=origin,
                              alpha_box=alpha_box)


def publish_run(orthos: list[Path], out_dir: Path, *, mission: str, created_at: str) -> Path:
    """Detect on ``orthos`` and write a run folder as ``poppyscan detect --out`` does."""
    result = run_detection([str(o) for o in orthos], MarkPredictor(), GRID,
                           runtime=Runtime(workers=1))
    targets = make_targets(result.clusters, result.crs, mission=mission, model_id="marks-1",
                           gsd_m=GRID.gsd_m, detected_at=created_at, class_names=["poppy"])
    with_thumbs = []
    for t in targets:
        rel = f"thumbs/{t.target_id}.jpg"
        write_thumbnail(orthos[0], t.polygon, out_dir / rel, polygon_crs="EPSG:4326")
        with_thumbs.append(dataclasses.replace(t, thumbnail=rel))
    written = write_all(out_dir, with_thumbs, mission=mission, model_id="marks-1",
                        formats=("geojson", "gpkg", "gpx", "kml"),
                        coverage=(result.coverage, result.crs))
    write_run_manifest(out_dir / "run.json", inputs=[str(o.resolve()) for o in orthos],
                       model={"model_id": "marks-1", "grid": dataclasses.asdict(GRID)},
                       thresholds={"conf": 0.5}, counts={"targets": len(targets)},
                       timings={}, outputs=list(written.values()), settings={"mission": mission},
                       created_at=created_at)
    return out_dir


def publish_truth_run(survey, out_dir: Path, *, mission: str, created_at: str,
                      offset_m=(0.0, 0.0)) -> Path:
    """A run folder whose targets are a synthetic survey's plots as a detector would box them.

    Each plot becomes its bounding box snapped outwards to the survey's pixel
    grid (so 5 cm and 8 cm flights draw it differently), moved by ``offset_m``
    (the flight's georeference error); the coverage is the survey's footprint,
    moved the same way.
    """
    gsd, (x0, y0) = survey.gsd_m, (survey.transform.c, survey.transform.f)
    to_wgs84 = Transformer.from_crs(survey.crs, "EPSG:4326", always_xy=True)
    targets = []
    for rank, plot in enumerate(sorted(survey.plots, key=lambda p: -p["area_m2"]), start=1):
        minx, miny, maxx, maxy = plot["geometry"].bounds
        box = shapely.box(x0 + math.floor((minx - x0) / gsd) * gsd,
                          y0 - math.ceil((y0 - miny) / gsd) * gsd,
                          x0 + math.ceil((maxx - x0) / gsd) * gsd,
                          y0 - math.floor((y0 - maxy) / gsd) * gsd)
        box = shapely.affinity.translate(box, *offset_m)
        lon, lat = to_wgs84.transform(box.centroid.x, box.centroid.y)
        targets.append(Target(format_target_id(mission, rank), mission, rank, 0.9, box.area,
                              reproject_geometry(box, survey.crs, "EPSG:4326"), lon, lat,
                              ("ortho.tif",), gsd, "truth-boxes", created_at, 1, "poppy"))
    footprint = shapely.affinity.translate(survey.footprint, *offset_m)
    written = write_all(out_dir, targets, mission=mission, model_id="truth-boxes",
                        formats=("geojson",), coverage=(footprint, survey.crs))
    write_run_manifest(out_dir / "run.json", inputs=[survey.ortho_path],
                       model={"model_id": "truth-boxes"}, thresholds={}, counts={},
                       timings={}, outputs=list(written.values()), settings={"mission": mission},
                       created_at=created_at)
    return out_dir
