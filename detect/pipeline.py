"""Streaming detection over whole orthomosaics: chip blocks -> model -> journal -> merge.

Chips are read ahead on threads (see :func:`poppyscan.tiles.read_cells`) while
the model runs on the current batch, so reading overlaps inference and memory
stays bounded by the prefetch queue, whatever the raster size. Chips go
through the model in square blocks (:func:`detect_block`, on this process or,
with ``engine="ray"``, in Ray actors); each finished block is committed to the
run's :class:`~poppyscan.detect.journal.Journal` with its detections, so a
killed run resumes at the first unfinished block. Batches never span two
blocks, so a resumed run feeds the model exactly the batches a straight run
would, and finds the same boxes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS

from poppyscan.detect.detections import (
    DEFAULT_MIN_BOX_VALID_FRAC,
    Detection,
    detections_from_chip,
    to_crs,
)
from poppyscan.detect.journal import Journal
from poppyscan.detect.merge import DEFAULT_MERGE, Cluster, MergeSettings
from poppyscan.detect.predictor import Predictor, batched
from poppyscan.detect.runtime import Runtime
from poppyscan.errors import ConfigError
from poppyscan.progress import Progress, as_progress
from poppyscan.tiles import ChipBlock, ChipStats, GridSpec, RasterInfo, inspect_raster, read_cells
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.geometry import reproject_geometry
from poppyscan.tiles.plan import RasterPlan, plan_raster
from poppyscan.tiles.stream import DEFAULT_MIN_VALID_FRAC

__all__ = ["BLOCK_CHIPS", "BlockDetections", "BlockWork", "ChipRules", "DetectionResult",
           "detect_block", "plan_detection", "run_detection"]

BLOCK_CHIPS = 8  # blocks of 8 x 8 chips: about 20 s of CPU time each, at most that lost to a kill
COVERAGE_CELL_PX = 16  # the area examined is traced on 16 px cells (80 cm at 5 cm GSD)


@dataclass
class DetectionResult:
    """Everything one detection run found, in the run's projected CRS."""

    crs: CRS
    infos: list[RasterInfo]
    detections: list[Detection]
    clusters: list[Cluster]
    coverage: shapely.Geometry
    stats: ChipStats
    collar_boxes: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    blocks_resumed: int = 0


def plan_detection(infos: Sequence[RasterInfo], grid: GridSpec, *,
                   min_valid_frac: float = DEFAULT_MIN_VALID_FRAC) -> list[RasterPlan]:
    """Every raster's chip plan (cheap: arrays, no cells)."""
    return [plan_raster(info, grid, prescreen=min_valid_frac > 0) for info in infos]


@dataclass(frozen=True)
class ChipRules:
    """Which chips and boxes count: a chip under ``min_valid_frac`` valid pixels is collar and
    skipped; a box with under ``min_box_valid_frac`` of its pixels valid is dropped."""

    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC
    min_box_valid_frac: float = DEFAULT_MIN_BOX_VALID_FRAC


@dataclass(frozen=True)
class BlockWork:
    """What every chip block of one run shares, on whichever engine it runs."""

    grid: GridSpec
    crs: CRS  # the run's CRS: detections are reprojected into it
    runtime: Runtime
    rules: ChipRules = ChipRules()


def run_detection(
    orthos: Sequence[str | RasterInfo],
    predictor: Predictor,
    grid: GridSpec,
    *,
    runtime: Runtime | None = None,
    merge: MergeSettings = DEFAULT_MERGE,
    rules: ChipRules = ChipRules(),
    bands: Sequence[int] | None = None,
    progress: Progress | None = None,
    journal: Journal | None = None,
    plans: Sequence[RasterPlan] | None = None,
    predictor_factory: Callable[[], Predictor] | None = None,
) -> DetectionResult:
    """Detect on every chip of ``orthos`` and merge into one cluster per plot.

    The run's CRS is the first raster's (projected) CRS; detections from
    rasters in other CRSs are reprojected into it before merging. ``progress``
    hears ``advance(n)`` as chips are read and ``source(path, i, n)`` when the
    run moves on to the i-th of n rasters. With a ``journal``, blocks it already
    holds are skipped and new ones are added to it; without one, an in-memory
    journal is used.

    ``runtime.engine``: ``"local"`` (default) runs ``predictor`` in this process;
    ``"ray"`` runs the blocks in Ray actors (:mod:`poppyscan.detect.ray_engine`),
    each making its own predictor with ``predictor_factory`` (a picklable
    callable); ``predictor`` then only says the device (CUDA: GPU actors).
    Both give the same detections, in the same order.
    """
    runtime = runtime or Runtime()
    if runtime.engine == "ray" and predictor_factory is None:
        raise ConfigError("engine 'ray' needs a predictor_factory: a picklable callable that makes "
                          "the predictor in each Ray actor")
    start = time.perf_counter()
    infos = [o if isinstance(o, RasterInfo) else inspect_raster(o, bands=bands) for o in orthos]
    plans = list(plans) if plans is not None else plan_detection(
        infos, grid, min_valid_frac=rules.min_valid_frac)
    work = BlockWork(grid, CRS.from_user_input(infos[0].crs.to_wkt()), runtime, rules)
    engine = _Engine(predictor, predictor_factory, as_progress(progress))
    with _journal_or_memory(journal) as journal:
        done = journal.done_blocks()
        blocks = [b for plan in plans for b in plan.blocks(BLOCK_CHIPS) if b.key not in done]
        model_s, other_s = engine.run(blocks, infos, work, journal)
        t_merge = time.perf_counter()
        detections = sorted(journal.detections(), key=_plan_order(infos))
        clusters = merge.apply(detections)
        coverage = _coverage(journal.coverage(), {info.path: info.crs for info in infos}, work.crs)
        stats, collar_boxes = _stats(plans, journal.counts())
    end = time.perf_counter()
    other_s = t_merge - start - model_s if other_s is None else other_s
    timings = {"total": end - start, "model": model_s, "merge": end - t_merge,
               "read_and_other": other_s}
    return DetectionResult(work.crs, infos, detections, clusters, coverage, stats, collar_boxes,
                           {k: round(v, 3) for k, v in timings.items()}, len(done))


@contextmanager
def _journal_or_memory(journal: Journal | None) -> Iterator[Journal]:
    """``journal``, or an in-memory one closed afterwards."""
    if journal is not None:
        yield journal
        return
    with closing(Journal(":memory:", {}, run_id="memory")) as memory:
        yield memory


@dataclass(frozen=True)
class _Engine:
    """Runs a run's blocks on its runtime's engine; returns seconds in the model and elsewhere
    (None for elsewhere: the local engine's is the wall time less the model's)."""

    predictor: Predictor
    predictor_factory: Callable[[], Predictor] | None
    progress: Progress

    def run(self, blocks: list[ChipBlock], infos: Sequence[RasterInfo], work: BlockWork,
            journal: Journal) -> tuple[float, float | None]:
        if work.runtime.engine == "ray":
            from poppyscan.detect.ray_engine import detect_blocks_on_ray

            gpu = str(getattr(self.predictor, "device", "cpu")).startswith("cuda")
            return detect_blocks_on_ray(blocks, infos, self.predictor_factory, work, journal,
                                        self.progress, gpu=gpu)
        return _detect_blocks(blocks, infos, self.predictor, work, journal, self.progress), None


def _plan_order(infos: Sequence[RasterInfo]) -> Callable[[Detection], tuple]:
    """Sort key of a straight local run's order: rasters, blocks row by row, chips row by row.

    Journalled detections are in commit order; the Ray engine commits blocks
    as they finish, so they are put back in plan order (a stable sort: boxes
    of one chip keep the model's order) before merging.
    """
    rank = {info.path: i for i, info in enumerate(infos)}

    def key(d: Detection) -> tuple:
        row, col = d.chip
        return rank[d.source], row // BLOCK_CHIPS, col // BLOCK_CHIPS, row, col

    return key


def _detect_blocks(blocks: list[ChipBlock], infos: Sequence[RasterInfo], predictor: Predictor,
                   work: BlockWork, journal: Journal, progress: Progress) -> float:
    """Run the model block by block, committing each finished block; return seconds in the model."""
    info_of = {info.path: info for info in infos}
    batch_size = work.runtime.batch_size
    model_s = 0.0
    chips = read_cells(((info_of[b.source], cell, b) for b in blocks for cell in b.cells),
                       work.grid, workers=work.runtime.workers, prefetch=max(16, 3 * batch_size))
    order = [info.path for info in infos]
    source = None
    for block, block_chips in _by_block(chips):
        if block.source != source:
            source = block.source
            progress.source(source, order.index(source) + 1, len(order))
        done = detect_block(block_chips, predictor, work.crs, batch_size=batch_size,
                            min_valid_frac=work.rules.min_valid_frac,
                            min_box_valid_frac=work.rules.min_box_valid_frac)
        model_s += done.model_s
        journal.commit_block(block.key, block.source, done.detections, done.coverage, done.counts)
        progress.advance(done.counts["read"])
    return model_s


@dataclass
class BlockDetections:
    """What one block of chips gave: detections (run CRS), area examined and chip counts."""

    detections: list[Detection]
    coverage: shapely.Geometry
    counts: dict[str, int]  # read, yielded, skipped_collar, collar_boxes
    model_s: float


def detect_block(chips: Iterable[Chip], predictor: Predictor, crs: CRS, *, batch_size: int,
                 min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
                 min_box_valid_frac: float = DEFAULT_MIN_BOX_VALID_FRAC) -> BlockDetections:
    """The chips of one block through the model, in batches of ``batch_size`` within the block.

    Collar chips (under ``min_valid_frac`` valid) are counted and skipped.
    Every engine runs a block through this function, so the same block gives
    the same batches, hence the same boxes, wherever it runs.
    """
    counts = {"read": 0, "yielded": 0, "skipped_collar": 0, "collar_boxes": 0}

    def kept() -> Iterator[Chip]:
        for chip in chips:
            counts["read"] += 1
            keep = chip.enough_valid(min_valid_frac)
            counts["yielded" if keep else "skipped_collar"] += 1
            if keep:
                yield chip

    found: list[Detection] = []
    covered = []
    model_s = 0.0
    for batch in batched(kept(), batch_size):
        t0 = time.perf_counter()
        results = predictor(np.stack([chip.pixels for chip in batch]))
        model_s += time.perf_counter() - t0
        for chip, boxes in zip(batch, results, strict=True):
            chip_found, collar = detections_from_chip(chip, boxes,
                                                      min_box_valid_frac=min_box_valid_frac)
            found.extend(to_crs(chip_found, chip.crs, crs))
            counts["collar_boxes"] += collar
            covered.append(chip.valid_area(COVERAGE_CELL_PX))
    coverage = shapely.union_all(np.array(covered, dtype=object)) if covered else shapely.Polygon()
    return BlockDetections(found, coverage, counts, model_s)


def _by_block(chips: Iterator) -> Iterator[tuple[ChipBlock, Iterator[Chip]]]:
    """Group ``((info, cell, block), chip)`` pairs into ``(block, its chips)``, in order.

    Each block's chips come as they are read, so the model starts on a block's
    first batch while the readers are still on the rest (holding a block back
    until all 64 of its chips were read left the model idle while they caught up).
    The caller consumes each block's chips before asking for the next block.
    """
    for _, pairs in itertools.groupby(chips, key=lambda pair: id(pair[0][2])):
        first = next(pairs)
        yield first[0][2], (chip for _, chip in itertools.chain([first], pairs))


def _stats(plans: Sequence[RasterPlan], counts: dict[str, dict[str, int]]) -> tuple[ChipStats, int]:
    """Chip counts of the whole run (journalled blocks included) and boxes dropped on the collar."""
    stats = ChipStats()
    collar_boxes = 0
    for plan in plans:
        stats.count_plan(plan)
        source_counts = counts.get(plan.info.path, {})
        for key in ("read", "yielded", "skipped_collar"):
            stats.count(plan.info.path, key, int(source_counts.get(key) or 0))
        collar_boxes += int(source_counts.get("collar_boxes") or 0)
    return stats, collar_boxes


def _coverage(covered: dict[str, list], crs_of: dict, crs: CRS):
    parts = []
    for source, polygons in covered.items():
        area = shapely.union_all(np.array(polygons, dtype=object))
        parts.append(reproject_geometry(area, crs_of[source], crs))
    return shapely.union_all(np.array(parts, dtype=object)) if parts else shapely.Polygon()
