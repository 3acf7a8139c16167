"""Labels in every format analysts use, as georeferenced polygons, and the round trip
through labelling tools (Label Studio, CVAT).

Read any format with :func:`read_labels`; write chips with pre-annotations with
:func:`export_chips` (boxes from :func:`boxes_from_labels` or a model).
"""

from .chipboxes import CHIP_SUFFIXES, ChipBoxes, boxes_from_labels, list_chips
from .export import EXPORT_FORMATS, export_chips, write_labelstudio_tasks, write_yolo_layout
from .labelset import LabelSet
from .read import LABEL_FORMATS, detect_format, read_labels

__all__ = [
    "LabelSet",
    "read_labels",
    "detect_format",
    "LABEL_FORMATS",
    "ChipBoxes",
    "CHIP_SUFFIXES",
    "list_chips",
    "boxes_from_labels",
    "export_chips",
    "write_labelstudio_tasks",
    "write_yolo_layout",
    "EXPORT_FORMATS",
]
