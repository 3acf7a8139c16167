"""Streaming chips from one or many orthomosaics in bounded memory.

Reads run on a thread pool (GDAL releases the GIL during decoding); every
thread keeps its own dataset handle per raster, because GDAL handles are not
thread-safe. At most ``prefetch`` chips wait in memory at any time, whatever
the size of the rasters.

GDAL caches decoded blocks per dataset handle, so chips go to threads by
column, in runs of ``COLUMNS_PER_THREAD``: horizontal neighbours (which share
blocks through the overlap) and the chips below them are read by one thread,
and most blocks are decoded once. Handing chips to whichever thread was free
decoded each block up to ``workers`` times (8192 px JPEG GeoTIFF, 4 threads:
22.5 CPU ms a chip, against 12 by columns).
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

from poppyscan.config import defaults
from poppyscan.errors import ConfigError
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.grid import GridCell, GridSpec
from poppyscan.tiles.plan import RasterPlan, plan_raster
from poppyscan.tiles.raster import RasterInfo, inspect_raster
from poppyscan.tiles.reader import ChipReader

__all__ = ["ChipStats", "iter_chips", "read_cells", "with_progress", "DEFAULT_MIN_VALID_FRAC"]

DEFAULT_MIN_VALID_FRAC = float(defaults("tiling")["min_valid_frac"])
# Neighbouring columns read by one thread. Two keeps every thread busy on a row of a
# detection block (8 columns, 4 threads) while halving the blocks decoded twice.
COLUMNS_PER_THREAD = 2

T = TypeVar("T")


@dataclass
class ChipStats:
    """Counts of one run of :func:`iter_chips`, per source and in total."""

    planned: int = 0
    read: int = 0
    yielded: int = 0
    skipped_collar: int = 0  # below min_valid_frac (read, or ruled out by the coarse mask)
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, source: str, key: str, n: int = 1) -> None:
        setattr(self, key, getattr(self, key) + n)
        counts = self.per_source.setdefault(
            source, {"planned": 0, "read": 0, "yielded": 0, "skipped_collar": 0}
        )
        counts[key] += n

    def count_plan(self, plan: RasterPlan) -> None:
        """Count a raster's planned cells and those its coarse mask ruled out."""
        self.count(plan.info.path, "planned", plan.n_planned)
        self.count(plan.info.path, "skipped_collar", plan.n_ruled_out)

    def count_read(self, chip: Chip, min_valid_frac: float) -> bool:
        """Count a chip read; True when it has enough valid pixels to keep."""
        self.count(chip.source, "read")
        if not chip.enough_valid(min_valid_frac):
            self.count(chip.source, "skipped_collar")
            return False
        self.count(chip.source, "yielded")
        return True


def iter_chips(
    sources: Iterable[str | os.PathLike | RasterInfo],
    spec: GridSpec,
    *,
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    workers: int = 4,
    prefetch: int = 16,
    bands: Sequence[int] | None = None,
    stats: ChipStats | None = None,
) -> Iterator[Chip]:
    """Yield the chips of every source in grid order, skipping collar chips.

    ``min_valid_frac`` (0..1, default in ``configs/tiling.yaml``) is the least
    fraction of valid pixels a chip needs; ``workers`` threads read ahead at
    most ``prefetch`` chips. Pass a :class:`ChipStats` to get the counts.
    """
    _check_stream(min_valid_frac, workers, prefetch)
    stats = stats if stats is not None else ChipStats()
    infos = [s if isinstance(s, RasterInfo) else inspect_raster(s, bands=bands) for s in sources]

    def cells() -> Iterator[tuple[RasterInfo, GridCell]]:
        for info in infos:
            plan = plan_raster(info, spec, prescreen=min_valid_frac > 0)
            stats.count_plan(plan)
            yield from ((info, cell) for cell in plan.cells())

    for (_, _), chip in read_cells(cells(), spec, workers=workers, prefetch=prefetch):
        if stats.count_read(chip, min_valid_frac):
            yield chip


def with_progress(chips: Iterable[Chip], stats: ChipStats,
                  on_chips: Callable[[int], None] | None) -> Iterator[Chip]:
    """Yield ``chips``, telling ``on_chips`` how many more ``stats`` counts as read (kept or skipped)."""
    seen = 0
    for chip in chips:
        if on_chips and stats.read > seen:
            on_chips(stats.read - seen)
            seen = stats.read
        yield chip
    if on_chips and stats.read > seen:
        on_chips(stats.read - seen)


def read_cells(
    items: Iterable[tuple[RasterInfo, GridCell] | tuple[RasterInfo, GridCell, T]],
    spec: GridSpec,
    *,
    workers: int = 4,
    prefetch: int = 16,
) -> Iterator[tuple[tuple, Chip]]:
    """Read every ``(info, cell, ...)`` item on ``workers`` threads; yield ``(item, chip)`` in order.

    At most ``prefetch`` chips wait in memory; collar chips are yielded too
    (the caller decides what to keep).
    """
    _check_stream(0.0, workers, prefetch)
    with _ReaderThreads(spec, workers) as readers:
        pending: deque[tuple[tuple, Future[Chip]]] = deque()
        for item in items:
            info, cell = item[0], item[1]
            thread = (cell.col // COLUMNS_PER_THREAD) % workers
            pending.append((item, readers.submit(info, cell, thread)))
            if len(pending) >= prefetch:
                item_done, future = pending.popleft()
                yield item_done, future.result()
        while pending:
            item_done, future = pending.popleft()
            yield item_done, future.result()


def _check_stream(min_valid_frac: float, workers: int, prefetch: int) -> None:
    if not 0 <= min_valid_frac <= 1:
        raise ConfigError(f"min_valid_frac={min_valid_frac!r} must be in [0, 1]")
    if workers < 1 or prefetch < 1:
        raise ConfigError(f"workers={workers!r} and prefetch={prefetch!r} must be >= 1")


class _ReaderThreads:
    """Worker threads that each own one :class:`ChipReader` per raster.

    rasterio ties a dataset to the thread that opened it, so each worker opens
    and closes its own handles; results come back as futures. Worker ``i``
    reads the cells submitted to it.
    """

    def __init__(self, spec: GridSpec, workers: int) -> None:
        self.spec = spec
        self._tasks: list[queue.Queue] = [queue.Queue() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(tasks,), name=f"chip-read-{i}", daemon=True)
            for i, tasks in enumerate(self._tasks)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, info: RasterInfo, cell: GridCell, worker: int) -> Future[Chip]:
        future: Future[Chip] = Future()
        self._tasks[worker].put((future, info, cell))
        return future

    def __enter__(self) -> _ReaderThreads:
        return self

    def __exit__(self, *exc) -> None:
        for tasks in self._tasks:
            tasks.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self, tasks: queue.Queue) -> None:
        readers: dict[str, ChipReader] = {}
        try:
            while (task := tasks.get()) is not None:
                future, info, cell = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    reader = readers.get(info.path)
                    if reader is None:
                        reader = readers[info.path] = ChipReader(info, self.spec)
                    future.set_result(reader.read(cell))
                except BaseException as err:  # handed to the consumer via the future
                    future.set_exception(err)
        finally:
            for reader in readers.values():
                reader.close()
