"""Streaming chips from one or many orthomosaics in bounded memory.

Reads run on a thread pool (GDAL releases the GIL during decoding); every
thread keeps its own dataset handle per raster, because GDAL handles are not
thread-safe. At most ``prefetch`` chips wait in memory at any time, whatever
the size of the rasters.

GDAL caches decoded blocks per handle, so each thread reads one vertical band
of the grid's columns: neighbouring chips share blocks (the overlap) and are
read by the same thread, and each block is decoded about once. Handing chips
to whichever thread was free decoded each block up to ``workers`` times: on an
8192 px JPEG GeoTIFF with 4 threads, 22.5 CPU ms a chip against 12 by bands.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.errors import ConfigError
from poppyscan.tiles.grid import GridCell, GridSpec
from poppyscan.tiles.raster import RasterInfo, decimated_grid, inspect_raster, open_dataset
from poppyscan.tiles.reader import ChipReader, cells_for
from rasterio.features import rasterize

from poppyscan.config import defaults

__all__ = ["ChipStats", "iter_chips", "plan_chips", "DEFAULT_MIN_VALID_FRAC"]

DEFAULT_MIN_VALID_FRAC = float(defaults("tiling")["min_valid_frac"])
# Rasters up to this size get a coarse mask pre-screen even without overviews.
PRESCREEN_MAX_PX = 64_000_000


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


def plan_chips(
    info: RasterInfo, spec: GridSpec, *, min_valid_frac: float = DEFAULT_MIN_VALID_FRAC
) -> tuple[list[GridCell], int]:
    """Grid cells worth reading, and how many were ruled out as collar without reading.

    The pre-screen uses a coarse valid mask from the file's overviews (or a
    decimated read of a small raster); cells with no valid coarse pixel at all
    are skipped. Without overviews on a large raster every cell is read.
    """
    cells = cells_for(info, spec)
    coarse = _coarse_mask(info)
    if coarse is None or min_valid_frac <= 0:
        return cells, 0
    mask, transform = coarse
    keep = [cell for cell in cells if _touches_valid(cell, mask, transform)]
    return keep, len(cells) - len(keep)


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

    ``min_valid_frac`` (0..1, default in ``configs/tiling.yaml``) is the least fraction of valid
    pixels a chip needs; ``workers`` threads read ahead at most ``prefetch``
    chips. Pass a :class:`ChipStats` to get the counts.
    """
    if not 0 <= min_valid_frac <= 1:
        raise ConfigError(f"min_valid_frac={min_valid_frac!r} must be in [0, 1]")
    if workers < 1 or prefetch < 1:
        raise ConfigError(f"workers={workers!r} and prefetch={prefetch!r} must be >= 1")
    stats = stats if stats is not None else ChipStats()
    infos = [s if isinstance(s, RasterInfo) else inspect_raster(s, bands=bands) for s in sources]
    with _ReaderThreads(spec, workers) as readers:
        pending: deque[Future[Chip]] = deque()
        for info, cell, band in _planned_cells(infos, spec, min_valid_frac, stats, workers):
            pending.append(readers.submit(info, cell, band))
            if len(pending) >= prefetch:
                yield from _emit(pending.popleft().result(), min_valid_frac, stats)
        while pending:
            yield from _emit(pending.popleft().result(), min_valid_frac, stats)


def _planned_cells(infos, spec, min_valid_frac, stats,
                   workers) -> Iterator[tuple[RasterInfo, GridCell, int]]:
    """Cells in grid order, each with the column band (reader thread) that reads it."""
    for info in infos:
        cells, ruled_out = plan_chips(info, spec, min_valid_frac=min_valid_frac)
        stats.count(info.path, "planned", len(cells) + ruled_out)
        stats.count(info.path, "skipped_collar", ruled_out)
        n_cols = max((cell.col for cell in cells), default=0) + 1
        for cell in cells:
            yield info, cell, cell.col * workers // n_cols


def _emit(chip: Chip, min_valid_frac: float, stats: ChipStats) -> Iterator[Chip]:
    stats.count(chip.source, "read")
    if chip.valid_frac < min_valid_frac or not chip.valid.any():
        stats.count(chip.source, "skipped_collar")
        return
    stats.count(chip.source, "yielded")
    yield chip


class _ReaderThreads:
    """Worker threads that each own one :class:`ChipReader` per raster.

    rasterio ties a dataset to the thread that opened it, so each worker opens
    and closes its own handles; results come back as futures. Worker ``i``
    reads the cells submitted to band ``i``.
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

    def submit(self, info: RasterInfo, cell: GridCell, band: int) -> Future[Chip]:
        future: Future[Chip] = Future()
        self._tasks[band].put((future, info, cell))
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


def _coarse_mask(info: RasterInfo, max_px: int = 512):
    with open_dataset(info) as src:
        has_overviews = bool(src.overviews(1))
        if not has_overviews and info.width * info.height > PRESCREEN_MAX_PX:
            return None
        out_w, out_h, transform = decimated_grid(info, max_px)
        mask = src.dataset_mask(out_shape=(out_h, out_w)) > 0
    # One coarse pixel of margin: a sliver of valid pixels may vanish when decimated.
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return grown, transform


def _touches_valid(cell: GridCell, mask: np.ndarray, transform) -> bool:
    footprint = rasterize(
        [(cell.polygon, 1)], out_shape=mask.shape, transform=transform, all_touched=True,
        dtype="uint8",
    )
    return bool((mask & (footprint > 0)).any())
