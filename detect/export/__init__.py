"""Target outputs for field crews: GeoJSON, GeoPackage, GPX, KML, thumbnails, report, manifest.

Each writer takes a sequence of :class:`detect.targets.Target` and an output
path and writes atomically (temporary file beside it, then rename). Writers
overwrite an existing file: refusing to do so is the CLI's job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import shapely

from poppyscan.detect.export.coverage import write_coverage_geojson
from poppyscan.detect.export.geojson import write_plots_geojson, write_targets_geojson
from poppyscan.detect.export.gpkg import write_targets_gpkg
from poppyscan.detect.export.gpx_kml import write_targets_gpx, write_targets_kml
from poppyscan.detect.export.manifest import write_run_manifest
from poppyscan.detect.export.report import Overview, write_report_html
from poppyscan.detect.export.thumbnails import thumbnail_bgr, write_jpeg, write_thumbnail
from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError

__all__ = [
    "FORMATS",
    "OUTPUT_NAMES",
    "write_all",
    "write_coverage_geojson",
    "write_plots_geojson",
    "write_report_html",
    "write_run_manifest",
    "write_targets_geojson",
    "write_targets_gpkg",
    "write_targets_gpx",
    "write_targets_kml",
    "thumbnail_bgr",
    "write_jpeg",
    "write_thumbnail",
]

FORMATS: tuple[str, ...] = ("geojson", "gpkg", "gpx", "kml", "report")

# Output key -> file name inside the output folder.
OUTPUT_NAMES: dict[str, str] = {
    "targets_geojson": "targets.geojson",
    "plots_geojson": "plots.geojson",
    "gpkg": "targets.gpkg",
    "gpx": "targets.gpx",
    "kml": "targets.kml",
    "coverage": "coverage.geojson",
    "report": "report.html",
}


def write_all(
    out_dir: str | os.PathLike,
    targets: Sequence[Target],
    *,
    mission: str,
    model_id: str,
    formats: Iterable[str] = FORMATS,
    coverage: tuple[shapely.Geometry | Iterable[shapely.Geometry], Any] | None = None,
    overview: Overview | list[tuple[str, Overview]] | None = None,
    chips_processed: int | None = None,
    chips_skipped: int | None = None,
    skipped: Sequence[Mapping[str, str]] = (),
    classes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write the chosen ``formats`` into ``out_dir``; return output key -> path.

    ``coverage`` is ``(footprints, crs)`` of the processed chips (see
    :func:`write_coverage_geojson`); when given, ``coverage.geojson`` is written
    and its area goes into the report. Thumbnails are not made here: write them
    first (:func:`write_thumbnail`) and set ``Target.thumbnail``. ``skipped``: input
    files the run left out, ``{"path", "reason"}`` each, for the report; ``classes``: the
    model's class names (the report's title).
    """
    formats = _checked_formats(formats)
    paths = {key: Path(out_dir) / name for key, name in OUTPUT_NAMES.items()}
    written: dict[str, Path] = {}
    area_km2 = None
    if coverage is not None:
        area_km2 = write_coverage_geojson(*coverage, paths["coverage"], n_chips=chips_processed)
        written["coverage"] = paths["coverage"]
    for key, fmt, writer in _TARGET_WRITERS:  # in FORMATS' order: run.json lists them so
        if fmt in formats:
            written[key] = writer(targets, paths[key])
    if "report" in formats:
        report = dict(mission=mission, model_id=model_id, overview=overview,
                      coverage_area_km2=area_km2, chips_processed=chips_processed,
                      chips_skipped=chips_skipped, skipped=skipped, classes=classes)
        written["report"] = write_report_html(paths["report"], targets, **report)
    return written


# Output key, format, writer of the target files (the report and coverage take more).
_TARGET_WRITERS = (
    ("targets_geojson", "geojson", write_targets_geojson),
    ("plots_geojson", "geojson", write_plots_geojson),
    ("gpkg", "gpkg", write_targets_gpkg),
    ("gpx", "gpx", write_targets_gpx),
    ("kml", "kml", write_targets_kml),
)


def _checked_formats(formats: Iterable[str]) -> tuple[str, ...]:
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(
            f"unknown output format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}"
        )
    return formats
