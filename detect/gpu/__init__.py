"""The GPU path: chips decoded on the device from JPEG tiles, and the model run on them there.

:class:`JpegTileFeed` makes device batches, :class:`DevicePredictor` runs a
YOLO predictor's network on them, :func:`detect_on_device` chains both with
the pipeline's plan, box rule and merge.
"""

from poppyscan.detect.gpu.feed import FeedBatch, JpegTileFeed
from poppyscan.detect.gpu.predict import DevicePredictor
from poppyscan.detect.gpu.run import DeviceRun, detect_on_device

__all__ = ["DevicePredictor", "DeviceRun", "FeedBatch", "JpegTileFeed", "detect_on_device"]
