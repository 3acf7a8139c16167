"""Training datasets: orthomosaics + label polygons -> Ultralytics chips, spatially split.

Build one with :func:`build_dataset`; read what it holds with :func:`load_summary`.
"""

from poppyscan.train.dataset.boxes import ChipLabels, chip_labels
from poppyscan.train.dataset.build import OUTPUTS, DatasetSummary, build_dataset, load_summary
from poppyscan.train.dataset.hard_negatives import HardNegatives
from poppyscan.train.dataset.images import IMAGE_FORMATS, write_chip_image
from poppyscan.train.dataset.split import SPLIT_MODES, SPLITS, default_block_m
from poppyscan.train.dataset_options import DatasetOptions

__all__ = [
    "ChipLabels",
    "DatasetOptions",
    "DatasetSummary",
    "HardNegatives",
    "IMAGE_FORMATS",
    "OUTPUTS",
    "SPLITS",
    "SPLIT_MODES",
    "build_dataset",
    "chip_labels",
    "default_block_m",
    "load_summary",
    "write_chip_image",
]
