"""One detection run, start to finish: orthomosaics in, a folder of field outputs out."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from poppyscan.detect.build import make_targets
from poppyscan.detect.bundle import ModelBundle
from poppyscan.detect.export import OUTPUT_NAMES, write_all, write_run_manifest, write_thumbnail
from poppyscan.detect.merge import MergeSettings
from poppyscan.detect.pipeline import DetectionResult, run_detection
from poppyscan.detect.predictor import Predictor
from poppyscan.detect.targets import Target
from poppyscan.tiles.raster import RasterInfo, overview_read, to_uint8

__all__ = ["FoundTargets", "detect_targets", "write_outputs", "OUTPUTS"]

OUTPUTS = (*OUTPUT_NAMES.values(), "run.json", "thumbs")


@dataclass
class FoundTargets:
    """Targets of one detection run and how they were found (what :func:`write_outputs` needs)."""

    targets: list[Target]
    result: DetectionResult
    bundle: ModelBundle
    mission: str
    conf: float
    merge: MergeSettings
    settings: dict = field(default_factory=dict)


def detect_targets(
    orthos: Sequence[str | os.PathLike | RasterInfo],
    *,
    bundle: ModelBundle,
    predictor: Predictor,
    merge: MergeSettings,
    mission: str | None = None,
    batch_size: int = 8,
    workers: int = 4,
    on_chips: Callable[[int], None] | None = None,
) -> FoundTargets:
    """Detect on ``orthos`` with ``predictor``, merge with ``merge`` and rank the targets."""
    paths = [o.path if isinstance(o, RasterInfo) else str(o) for o in orthos]
    mission = mission or Path(paths[0]).stem
    result = run_detection(orthos, predictor, bundle.grid, batch_size=batch_size, workers=workers,
                           merge=merge, on_chips=on_chips)
    targets = make_targets(result.clusters, result.crs, mission=mission, model_id=bundle.model_id,
                           gsd_m=bundle.grid.gsd_m)
    return FoundTargets(targets, result, bundle, mission, float(predictor.conf), merge,
                        {"batch_size": batch_size, "workers": workers})


def write_outputs(found: FoundTargets, out_dir: str | os.PathLike, *,
                  settings: dict | None = None) -> tuple[list[Target], dict[str, Path]]:
    """Write every field output of ``found`` into ``out_dir``: (targets with thumbnails, paths).

    Outputs are first written into a hidden staging folder beside ``out_dir``
    and moved in at the end, so an interrupted run leaves nothing that looks
    complete.
    """
    started = time.perf_counter()
    result, bundle = found.result, found.bundle
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        targets = _thumbnails(found.targets, result, staging)
        written = write_all(
            staging, targets, mission=found.mission, model_id=bundle.model_id,
            coverage=(result.coverage, result.crs), overview=_overview(result),
            chips_processed=result.stats.yielded, chips_skipped=result.stats.skipped_collar,
        )
        timings = {**result.timings_s, "outputs": time.perf_counter() - started}
        written["run"] = write_run_manifest(
            staging / "run.json", inputs=[info.path for info in result.infos],
            model={"model_id": bundle.model_id, "bundle": str(bundle.path), "sha256":
                   bundle.card["weights"]["sha256"], "grid": dataclasses.asdict(bundle.grid)},
            thresholds={**bundle.thresholds, "conf": found.conf, "merge_rule": found.merge.rule,
                        **found.merge.options},
            counts=_counts(result, targets), timings=timings, outputs=list(written.values()),
            settings={**found.settings, "mission": found.mission, **(settings or {})},
        )
        _move_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return targets, {k: out / p.relative_to(staging) for k, p in written.items()}


def _counts(result: DetectionResult, targets: list[Target]) -> dict:
    return {
        "chips_planned": result.stats.planned, "chips_read": result.stats.read,
        "chips_processed": result.stats.yielded, "chips_skipped_collar": result.stats.skipped_collar,
        "detections": len(result.detections), "detections_dropped_collar": result.collar_boxes,
        "targets": len(targets), "per_source": result.stats.per_source,
    }


def _thumbnails(targets: list[Target], result: DetectionResult, out: Path) -> list[Target]:
    """One JPEG crop per target, from the first file it was seen in."""
    by_name = {Path(info.path).name: info.path for info in result.infos}
    done = []
    for target in targets:
        rel = f"thumbs/{target.target_id}.jpg"
        write_thumbnail(by_name[target.sources[0]], target.polygon, out / rel, polygon_crs="EPSG:4326")
        done.append(dataclasses.replace(target, thumbnail=rel))
    return done


def _overview(result: DetectionResult):
    """A decimated image of the first orthomosaic for the report."""
    info = result.infos[0]
    data, mask, transform = overview_read(info, max_px=1600)
    rgb = to_uint8(data, info.stretch).transpose(1, 2, 0).copy()  # the chips' own stretch
    rgb[~mask] = 0
    return rgb, transform, info.crs


def _move_in(staging: Path, out: Path) -> None:
    """Move staged outputs into ``out``, replacing older ones of the same name."""
    out.mkdir(parents=True, exist_ok=True)
    for item in staging.iterdir():
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
