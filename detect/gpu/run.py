"""Detection on the GPU feed: chip blocks -> device batches -> model -> detections -> merge.

The same plan, blocks, collar rule, box rule and merge as
:func:`poppyscan.detect.pipeline.run_detection`, with the chips made on the
device by :class:`~poppyscan.detect.gpu.feed.JpegTileFeed` and the network run
on them there by :class:`~poppyscan.detect.gpu.predict.DevicePredictor`.
Experimental: see :mod:`poppyscan.detect.gpu` for what it is not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyproj import CRS

from poppyscan.detect.detections import (
    DEFAULT_MIN_BOX_VALID_FRAC,
    Detection,
    detections_from_chip,
    to_crs,
)
from poppyscan.detect.gpu.feed import JpegTileFeed
from poppyscan.detect.gpu.predict import DevicePredictor
from poppyscan.detect.merge import DEFAULT_MERGE, Cluster, MergeSettings
from poppyscan.detect.pipeline import BLOCK_CHIPS, plan_detection
from poppyscan.detect.predictor import batched
from poppyscan.tiles import GridSpec, RasterInfo, inspect_raster
from poppyscan.tiles.stream import DEFAULT_MIN_VALID_FRAC

__all__ = ["DeviceRun", "detect_on_device"]


@dataclass
class DeviceRun:
    """What one device run found, in the first raster's CRS, and how its chips went."""

    crs: CRS
    detections: list[Detection]
    clusters: list[Cluster]
    chips_read: int = 0
    chips_kept: int = 0
    chips_decoded: int = 0  # made from JPEG tiles on the device (the rest: ChipReader)
    timings_s: dict[str, float] = field(default_factory=dict)


def detect_on_device(
    orthos: Sequence[str | RasterInfo],
    predictor: DevicePredictor,
    grid: GridSpec,
    feed: JpegTileFeed,
    *,
    batch_size: int = 64,
    block_chips: int = BLOCK_CHIPS,
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    min_box_valid_frac: float = DEFAULT_MIN_BOX_VALID_FRAC,
    merge: MergeSettings = DEFAULT_MERGE,
) -> DeviceRun:
    """Detect on every chip of ``orthos`` through ``feed`` and merge into one cluster per plot.

    Batches hold up to ``batch_size`` chips of one block of ``block_chips``
    x ``block_chips`` cells (as in the pipeline, a batch never spans blocks).
    """
    import torch

    start = time.perf_counter()
    infos = [o if isinstance(o, RasterInfo) else inspect_raster(o) for o in orthos]
    crs = CRS.from_user_input(infos[0].crs.to_wkt())
    info_of = {info.path: info for info in infos}
    batches = [[(info_of[block.source], cell) for cell in part]
               for plan in plan_detection(infos, grid, min_valid_frac=min_valid_frac)
               for block in plan.blocks(block_chips) for part in batched(block.cells, batch_size)]
    run = DeviceRun(crs, [], [])
    model_s = 0.0
    for batch in feed.stream(batches):
        keep = [i for i, chip in enumerate(batch.chips) if chip.enough_valid(min_valid_frac)]
        run.chips_read += len(batch.chips)
        run.chips_kept += len(keep)
        run.chips_decoded += batch.decoded
        if not keep:
            continue
        t0 = time.perf_counter()
        images = batch.images[torch.tensor(keep, device=batch.images.device)]
        results = predictor(images)
        model_s += time.perf_counter() - t0
        for i, boxes in zip(keep, results, strict=True):
            chip = batch.chips[i]
            found, _ = detections_from_chip(chip, boxes, min_box_valid_frac=min_box_valid_frac)
            run.detections.extend(to_crs(found, chip.crs, crs))
    t_merge = time.perf_counter()
    run.clusters = merge.apply(run.detections)
    end = time.perf_counter()
    run.timings_s = {"total": round(end - start, 3), "model": round(model_s, 3),
                     "merge": round(end - t_merge, 3),
                     "feed_and_other": round(t_merge - start - model_s, 3)}
    return run
