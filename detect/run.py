"""One detection run, start to finish: orthomosaics in, a folder of field outputs out.

:func:`run_to_folder` is the resumable, never-lying run behind ``poppyscan
detect``: it journals finished chip blocks in the output folder
(:mod:`poppyscan.detect.journal`) and publishes the outputs through
:class:`~poppyscan.output_folder.OutputFolder`, so a killed run resumes
and a folder is either complete or holds the previous run untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poppyscan.detect.build import make_targets
from poppyscan.detect.bundle import ModelBundle
from poppyscan.detect.export import OUTPUT_NAMES, write_all, write_run_manifest, write_thumbnail
from poppyscan.detect.export.manifest import MANIFEST
from poppyscan.detect.export.overview import mission_overviews
from poppyscan.detect.journal import Journal, JournalMismatch, journal_path
from poppyscan.detect.merge import MergeSettings
from poppyscan.detect.pipeline import BLOCK_CHIPS, DetectionResult, plan_detection, run_detection
from poppyscan.detect.predictor import Predictor
from poppyscan.detect.runtime import Runtime
from poppyscan.detect.targets import Target
from poppyscan.errors import ConfigError, RunInterrupted
from poppyscan.output_folder import MIN_FREE_BYTES, OutputFolder, output_error
from poppyscan.progress import Progress, as_progress
from poppyscan.provenance import utc_now
from poppyscan.tiles.plan import RasterPlan
from poppyscan.tiles.raster import RasterInfo
from poppyscan.tiles.sources import flight_date, mission_name, source_labels

__all__ = ["FoundTargets", "MANIFEST", "OUTPUTS", "RunSpec", "detect_targets", "run_to_folder"]

OUTPUTS = (*OUTPUT_NAMES.values(), "thumbs")  # published before the manifest, which comes last
THUMBNAIL_THREADS = 4

log = logging.getLogger("poppyscan")


@dataclass(frozen=True)
class RunSpec:
    """What a run detects with and how: the model, its predictor and merge rule, the runtime.

    ``predictor_factory``: for the Ray engine, the picklable recipe each actor
    makes its own predictor from. ``mission``: the name in target ids (default:
    the inputs' folder, :func:`~poppyscan.tiles.sources.mission_name`).
    """

    bundle: ModelBundle
    predictor: Predictor
    merge: MergeSettings
    runtime: Runtime = Runtime()
    predictor_factory: Callable[[], Predictor] | None = None
    mission: str | None = None


@dataclass(frozen=True)
class FoundTargets:
    """Targets of one detection run and how they were found (a value: publishing, recording
    and naming give a new one)."""

    targets: list[Target]
    result: DetectionResult
    bundle: ModelBundle
    mission: str
    conf: float
    merge: MergeSettings
    labels: dict[str, str]  # full path -> short label of each orthomosaic
    settings: dict = field(default_factory=dict)
    run_id: str = ""
    out_dir: Path | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    recorded: Any = None  # what recording into a mission registry did, when one was given
    skipped: list[dict] = field(default_factory=list)  # inputs left out: {"path", "reason"}


class _Labelled:
    """A progress that hears each orthomosaic by its short label, not its full path."""

    def __init__(self, progress: Progress, labels: Mapping[str, str]) -> None:
        self.progress, self.labels = progress, labels

    def start(self, total: int | None) -> None:
        self.progress.start(total)

    def source(self, label: str, index: int, count: int) -> None:
        self.progress.source(self.labels.get(label, label), index, count)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.progress.advance(n, note)


def detect_targets(
    infos: Sequence[RasterInfo],
    spec: RunSpec,
    *,
    progress: Progress | None = None,
    journal: Journal | None = None,
    plans: Sequence[RasterPlan] | None = None,
    skipped: Sequence[Mapping] = (),
) -> FoundTargets:
    """Detect on ``infos`` as ``spec`` says, merge and rank the targets.

    ``progress`` hears each orthomosaic by its short label as the run reaches
    it; ``journal`` and ``plans`` (made here when not given) as in
    :func:`~poppyscan.detect.pipeline.run_detection`. ``skipped``: inputs left
    out before the run, recorded in its outputs.
    """
    labels = source_labels([info.path for info in infos])
    mission = spec.mission or mission_name([info.path for info in infos])
    result = run_detection(infos, spec.predictor, spec.bundle.grid, runtime=spec.runtime,
                           merge=spec.merge, progress=_Labelled(as_progress(progress), labels),
                           journal=journal, plans=plans, predictor_factory=spec.predictor_factory)
    bundle = spec.bundle
    targets = make_targets(result.clusters, result.crs, mission=mission, model_id=bundle.model_id,
                           gsd_m=bundle.grid.gsd_m, class_names=bundle.classes,
                           source_labels=labels, full_area_m2=bundle.card.get("full_priority_area_m2"))
    runtime = spec.runtime
    return FoundTargets(targets, result, bundle, mission, float(spec.predictor.conf), spec.merge,
                        labels, {"batch_size": runtime.batch_size, "workers": runtime.workers,
                                 "engine": runtime.engine},
                        journal.run_id if journal is not None else "", skipped=list(skipped))


def run_to_folder(
    infos: Sequence[RasterInfo],
    out_dir: str | Path,
    spec: RunSpec,
    *,
    overwrite: bool = False,
    settings: Mapping | None = None,
    progress: Progress | None = None,
    skipped: Sequence[Mapping] = (),
) -> FoundTargets:
    """Detect and publish every field output into ``out_dir``, resuming a journalled run there.

    The same call after a kill, Ctrl-C or crash skips the chip blocks already
    journalled and gives the same targets. A journal of another run (other
    inputs, model or settings) is an error, or discarded with ``overwrite``.
    ``progress`` hears ``start(total)`` once the chips are planned; ``settings``
    are recorded in run.json.
    """
    folder = OutputFolder(out_dir, OUTPUTS, manifest=MANIFEST)
    plans = plan_detection(infos, spec.bundle.grid)
    n_chips = sum(plan.n_to_read for plan in plans)
    progress = as_progress(progress)
    with folder.open(min_free_bytes=MIN_FREE_BYTES + 64 * n_chips):  # + the journal, ~64 B a chip
        journal = _open_journal(folder, fingerprint(infos, spec.bundle, spec.predictor,
                                                    spec.runtime.batch_size), overwrite)
        try:
            progress.start(n_chips)
            found = detect_targets(infos, spec, progress=progress, journal=journal, plans=plans,
                                   skipped=skipped)
        except KeyboardInterrupt:
            done = len(journal.done_blocks())
            raise RunInterrupted(
                f"Interrupted: {done} finished chip blocks are saved in {journal.path}; run the "
                "same command again to resume") from None
        finally:
            journal.close()
        found = _publish(dataclasses.replace(found, settings={**found.settings, **(settings or {})}),
                         folder)
        journal_path(folder.out).unlink(missing_ok=True)  # published: nothing left to resume
    return found


def fingerprint(infos: Sequence[RasterInfo], bundle: ModelBundle, predictor: Predictor,
                batch_size: int) -> dict:
    """What makes a run's detections what they are: a journal is valid only for the same."""
    inputs = []
    for info in infos:
        stat = Path(info.path).stat()
        inputs.append([str(Path(info.path).absolute()), stat.st_size, stat.st_mtime_ns,
                       list(info.bands)])
    return {
        "inputs": inputs,
        "model": bundle.card["weights"]["sha256"],
        "grid": dataclasses.asdict(bundle.grid),
        "thresholds": {"conf": float(predictor.conf), "iou": float(getattr(predictor, "iou", 0))},
        "runtime": {"device": str(getattr(predictor, "device", "")),
                    "backend": str(getattr(predictor, "backend", "torch")),
                    "precision": str(getattr(predictor, "precision", "f32"))},
        "batching": {"batch_size": batch_size, "block_chips": BLOCK_CHIPS},
    }


def _open_journal(folder: OutputFolder, fingerprint: dict, overwrite: bool) -> Journal:
    path = journal_path(folder.out)
    resuming = path.exists()
    if not resuming and folder.has_outputs() and not overwrite:
        raise ConfigError(f"{folder.out}: already holds {', '.join(folder.has_outputs())}; pass "
                          "--overwrite to replace")
    # Unique per run, not per input: two runs of the same files in one second (a repeat flight's
    # folder run twice, under two missions) must not share an id, or a registry takes the second
    # for the first, already recorded. A resumed run keeps the id its journal holds.
    stamp = utc_now().replace(":", "").replace("-", "")
    run_id = f"{stamp}-{_short_hash(fingerprint)}{secrets.token_hex(2)}"
    try:
        journal = Journal(path, fingerprint, run_id=run_id)
    except JournalMismatch as err:
        if not overwrite:
            raise ConfigError(f"{err}; pass --overwrite to discard it and start afresh") from None
        log.warning("%s; discarding it (--overwrite)", err)
        path.unlink()
        return Journal(path, fingerprint, run_id=run_id)
    if resuming and journal.done_blocks():
        log.warning("resuming run %s: %d chip blocks already done", journal.run_id,
                    len(journal.done_blocks()))
    return journal


def _short_hash(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:8]


def _publish(found: FoundTargets, folder: OutputFolder) -> FoundTargets:
    """Write every output into a staging folder, then publish it; OS errors in one clear line.

    Returns ``found`` with its thumbnails, output folder and paths."""
    staging = folder.staging()
    try:
        targets, written = _write(found, staging)
        folder.publish(staging)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise output_error(folder.out, err, "writing the outputs failed", "the previous outputs "
                           "are untouched and detections stay journalled: rerun once fixed") from None
    paths = {key: folder.out / path.relative_to(staging) for key, path in written.items()}
    return dataclasses.replace(found, targets=targets, out_dir=folder.out, paths=paths)


def _write(found: FoundTargets, staging: Path) -> tuple[list[Target], dict[str, Path]]:
    result, bundle = found.result, found.bundle
    targets = _thumbnails(found, staging)
    written = write_all(
        staging, targets, mission=found.mission, model_id=bundle.model_id,
        coverage=(result.coverage, result.crs),
        overview=mission_overviews(result.infos, result.crs, labels=found.labels),
        chips_processed=result.stats.yielded, chips_skipped=result.stats.skipped_collar,
        skipped=found.skipped, classes=bundle.classes,
    )
    written["run"] = write_run_manifest(
        staging / MANIFEST, inputs=[info.path for info in result.infos],
        model={"model_id": bundle.model_id, "bundle": str(bundle.path), "sha256":
               bundle.card["weights"]["sha256"], "grid": dataclasses.asdict(bundle.grid),
               "classes": list(bundle.classes)},
        thresholds={**bundle.thresholds, "conf": found.conf,
                    "merge_rule": found.merge.spec(bundle.classes),
                    **found.merge.options},
        counts=_counts(result, targets), timings=result.timings_s, outputs=list(written.values()),
        settings={**found.settings, "mission": found.mission},
        extra={"sources": found.labels, "blocks_resumed": result.blocks_resumed,
               **({"skipped": found.skipped} if found.skipped else {})},
        run_id=found.run_id or None, flown_at=flight_date([info.path for info in result.infos]),
    )
    return targets, written


def _counts(result: DetectionResult, targets: list[Target]) -> dict:
    return {
        "chips_planned": result.stats.planned, "chips_read": result.stats.read,
        "chips_processed": result.stats.yielded, "chips_skipped_collar": result.stats.skipped_collar,
        "detections": len(result.detections), "detections_dropped_collar": result.collar_boxes,
        "targets": len(targets), "per_source": result.stats.per_source,
    }


def _thumbnails(found: FoundTargets, out: Path) -> list[Target]:
    """One JPEG crop per target, from the first orthomosaic it was seen in.

    On threads (GDAL decodes without the GIL; each call opens its own handle):
    one at a time, 135 thumbnails took 10 s of a resumed run's 26.
    """
    path_of = {label: path for path, label in found.labels.items()}

    def write(target: Target) -> Target:
        rel = f"thumbs/{target.target_id}.jpg"
        write_thumbnail(path_of[target.sources[0]], target.polygon, out / rel,
                        polygon_crs="EPSG:4326")
        return dataclasses.replace(target, thumbnail=rel)

    with ThreadPoolExecutor(THUMBNAIL_THREADS) as pool:
        return list(pool.map(write, found.targets))
