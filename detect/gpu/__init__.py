"""The GPU path: chips decoded on the device from JPEG tiles, and the model run on them there.

**Experimental.** This is the one place that says so: it is a measured path
(``scripts/bench_gpu.py``), not an engine of the pipeline. :func:`detect_on_device`
keeps no journal (a killed run starts over), writes no output folder, returns its
own :class:`DeviceRun` rather than the pipeline's result, and is offered by neither
``poppyscan detect --engine`` nor :func:`poppyscan.api.detect`. It was built and tested
on a CPU only; no GPU figures exist yet.

:class:`JpegTileFeed` makes device batches, :class:`DevicePredictor` runs a
YOLO predictor's network on them, :func:`detect_on_device` chains both with
the pipeline's plan, box rule and merge. Torch is imported only when they run,
and names here on first use, so the feed's worker processes import only :mod:`.plan`.
"""

from __future__ import annotations

import importlib

__all__ = ["DevicePredictor", "DeviceRun", "FeedBatch", "JpegTileFeed", "detect_on_device"]

_HOMES = {"DevicePredictor": "predict", "DeviceRun": "run", "FeedBatch": "feed",
          "JpegTileFeed": "feed", "detect_on_device": "run"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
