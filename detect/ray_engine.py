"""Detection on a Ray cluster: chip blocks as a Ray Dataset, the model in actors.

The plan's unfinished blocks become a Ray Dataset of block descriptions (the
raster's path, the block's journal key, its cells' grid rows and columns),
one block per Ray block. A ``map_batches`` stage of actors (one GPU each when
the run's device is CUDA) makes the predictor once per actor from a picklable
factory, opens each raster by path, reads the block's chips and runs them
through :func:`~poppyscan.detect.pipeline.detect_block`, the function the
local engine runs too, so a block gives the same boxes on either engine. Only
detection records come back (WKB polygons, conf, class, chip row and column,
cut), with the block's coverage (WKB) and chip counts; the driver commits each
block to the journal as it arrives, so the run resumes like a local one.

A killed actor is restarted and its block retried by Ray: Ray Data's actor
pools run with ``max_restarts=-1`` and ``max_task_retries=-1`` by default
(passing them is deprecated since Ray 2.60); a block that still arrives twice
is committed once, because the journal's block key decides.

Install with ``pip install 'poppyscan[ray]'``; ``ray.init()`` joins the
cluster in ``RAY_ADDRESS`` or starts a local one when none is running.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass

import shapely

from poppyscan import errors
from poppyscan.detect.detections import Detection
from poppyscan.detect.journal import Journal
from poppyscan.detect.pipeline import BlockWork, detect_block
from poppyscan.detect.predictor import Predictor
from poppyscan.errors import ConfigError, PoppyscanError
from poppyscan.progress import Progress
from poppyscan.tiles import ChipBlock, RasterInfo, inspect_raster, read_cells
from poppyscan.tiles.grid import grid_cell, grid_transform

__all__ = ["BundlePredictor", "detect_blocks_on_ray", "join_ray"]

CPUS_PER_ACTOR = 1  # CPU actors: one per CPU of the cluster (Ray gives each one thread)


@dataclass(frozen=True)
class BundlePredictor:
    """A picklable recipe for a bundle's predictor: every Ray actor loads the weights once."""

    bundle_path: str
    device: str
    conf: float | None = None
    backend: str = "auto"
    precision: str = "auto"

    def __call__(self) -> Predictor:
        from poppyscan.detect.bundle import load_bundle

        # A GPU actor sees only its own GPU, as cuda:0, whichever the driver named.
        device = "cuda" if self.device.startswith("cuda") else self.device
        return load_bundle(self.bundle_path).predictor(device, conf=self.conf, backend=self.backend,
                                                       precision=self.precision)


def detect_blocks_on_ray(
    blocks: Sequence[ChipBlock],
    infos: Sequence[RasterInfo],
    predictor_factory: Callable[[], Predictor],
    work: BlockWork,
    journal: Journal,
    progress: Progress,
    *,
    gpu: bool,
) -> tuple[float, float]:
    """Detect on ``blocks`` in Ray actors, committing each block as it arrives.

    Returns seconds in the model and seconds reading and elsewhere, both
    summed over the actors (so they may exceed the wall time).
    """
    ray = join_ray()
    if not blocks:
        return 0.0, 0.0
    actors, resources = _actor_layout(ray, gpu)
    actors = min(actors, len(blocks))  # no actor loads a model it will never use
    detector = dict(predictor_factory=predictor_factory, work=work,
                    bands={info.path: list(info.bands) for info in infos})
    dataset = ray.data.from_items([_describe(block) for block in blocks],
                                  override_num_blocks=len(blocks))
    dataset = dataset.map_batches(_BlockDetector, fn_constructor_kwargs=detector, batch_size=1,
                                  batch_format="pyarrow",
                                  compute=ray.data.ActorPoolStrategy(size=actors), **resources)
    order = [info.path for info in infos]
    done, seen = journal.done_blocks(), set()
    model_s = other_s = 0.0
    for row in _arrivals(dataset):
        if row["error"] is not None:
            raise _error(row)
        if row["key"] in done:  # a retried block that had already come back
            continue
        source = row["source"]
        if source not in seen:
            seen.add(source)
            progress.source(source, order.index(source) + 1, len(order))
        counts = {k: row[k] for k in ("read", "yielded", "skipped_collar", "collar_boxes")}
        coverage = shapely.from_wkb(row["coverage"])
        journal.commit_block(row["key"], source, _detections(row), coverage, counts)
        done.add(row["key"])
        model_s += row["model_s"]
        other_s += row["block_s"] - row["model_s"]
        progress.advance(counts["read"])
    return model_s, other_s


def join_ray():
    """The ``ray`` module, joined to the cluster in ``RAY_ADDRESS`` or to a local one it starts."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("engine 'ray' needs Ray: pip install 'poppyscan[ray]'") from None
    if not ray.is_initialized():
        ray.init()  # the cluster in RAY_ADDRESS, or a local one
    ray.data.DataContext.get_current().enable_progress_bars = False  # the CLI draws its own
    return ray


def _actor_layout(ray, gpu: bool) -> tuple[int, dict[str, float]]:
    """How many actors, and what each one holds: a GPU each, or one CPU each."""
    resources = ray.cluster_resources()
    if gpu:
        gpus = int(resources.get("GPU", 0))
        if gpus < 1:
            raise ConfigError("the run's device is CUDA but the Ray cluster has no GPU; "
                              "use --device cpu")
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    return max(1, int(resources.get("CPU", 1) // CPUS_PER_ACTOR)), {"num_cpus": CPUS_PER_ACTOR}


def _describe(block: ChipBlock) -> dict:
    """A block as plain data: journal key, source, absolute path, its cells' rows and columns."""
    return {"key": block.key, "source": block.source, "path": os.path.abspath(block.source),
            "rows": [cell.row for cell in block.cells], "cols": [cell.col for cell in block.cells]}


def _arrivals(dataset) -> Iterator[dict]:
    """Result rows as the actors finish them; the stage stops when the driver stops reading."""
    with closing(iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow"))) as batches:
        for batch in batches:
            yield from batch.to_pylist()


def _error(row: dict) -> PoppyscanError:
    """An actor's bad-input error, raised again here as its own class: one clear line."""
    kind = getattr(errors, row["error_type"], None)
    if not (isinstance(kind, type) and issubclass(kind, PoppyscanError)):
        kind = PoppyscanError
    return kind(row["error"])


def _detections(row: dict) -> list[Detection]:
    return [Detection(shapely.from_wkb(d["polygon"]), d["conf"], d["cls"], row["source"],
                      (d["chip_row"], d["chip_col"]), shapely.from_wkb(d["chip_polygon"]), d["cut"])
            for d in row["detections"]]


def _schema():
    import pyarrow as pa

    detection = pa.struct([("polygon", pa.binary()), ("chip_polygon", pa.binary()),
                           ("conf", pa.float64()), ("cls", pa.int64()), ("chip_row", pa.int64()),
                           ("chip_col", pa.int64()), ("cut", pa.bool_())])
    return pa.schema([("key", pa.string()), ("source", pa.string()), ("coverage", pa.binary()),
                      ("read", pa.int64()), ("yielded", pa.int64()),
                      ("skipped_collar", pa.int64()), ("collar_boxes", pa.int64()),
                      ("model_s", pa.float64()), ("block_s", pa.float64()),
                      ("detections", pa.list_(detection)),
                      ("error_type", pa.string()), ("error", pa.string())])


class _BlockDetector:
    """A Ray actor's work: the predictor made once, then block descriptions in, records out."""

    def __init__(self, predictor_factory: Callable[[], Predictor], work: BlockWork,
                 bands: dict[str, list[int]]) -> None:
        self.predictor, self.error = None, None
        try:
            self.predictor = predictor_factory()
        except PoppyscanError as err:  # bad input (a bundle not there): the driver reports it
            self.error = err
        self.work, self.bands = work, bands
        self.infos: dict[str, RasterInfo] = {}

    def __call__(self, batch):
        import pyarrow as pa

        return pa.Table.from_pylist([self._detect_or_fail(row) for row in batch.to_pylist()],
                                    schema=_schema())

    def _detect_or_fail(self, row: dict) -> dict:
        """The block's records, or the bad-input error that stopped it (Ray keeps no cause)."""
        try:
            if self.error is not None:
                raise self.error
            return self._detect(row)
        except PoppyscanError as err:
            return {"key": row["key"], "source": row["source"], "error_type": type(err).__name__,
                    "error": str(err)}

    def _detect(self, row: dict) -> dict:
        start = time.perf_counter()
        info = self._info(row["source"], row["path"])
        grid, runtime, rules = self.work.grid, self.work.runtime, self.work.rules
        transform = grid_transform(info.transform, grid.gsd_m)
        cells = [grid_cell(transform, r, c, grid) for r, c in zip(row["rows"], row["cols"],
                                                                  strict=True)]
        chips = (chip for _, chip in read_cells(((info, cell) for cell in cells), grid,
                                                workers=runtime.workers,
                                                prefetch=max(16, 3 * runtime.batch_size)))
        done = detect_block(chips, self.predictor, self.work.crs, batch_size=runtime.batch_size,
                            min_valid_frac=rules.min_valid_frac,
                            min_box_valid_frac=rules.min_box_valid_frac)
        detections = [{"polygon": shapely.to_wkb(d.polygon), "chip_polygon":
                       shapely.to_wkb(d.chip_polygon), "conf": d.conf, "cls": d.cls,
                       "chip_row": d.chip[0], "chip_col": d.chip[1], "cut": d.cut}
                      for d in done.detections]
        return {"key": row["key"], "source": row["source"],
                "coverage": shapely.to_wkb(done.coverage), **done.counts,
                "model_s": done.model_s, "block_s": time.perf_counter() - start,
                "detections": detections}

    def _info(self, source: str, path: str) -> RasterInfo:
        if source not in self.infos:
            self.infos[source] = inspect_raster(path, bands=self.bands[source])
        return self.infos[source]
