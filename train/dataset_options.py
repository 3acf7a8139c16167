"""How a training dataset is cut, as one frozen, checked value, and the valid choices.

Light on purpose (no GDAL, no torch): the command line imports the choices from here
for its ``--help``. Defaults come from ``configs/dataset.yaml``.

>>> from poppyscan.tiles import GridSpec
>>> DatasetOptions(GridSpec(0.05, 640, 128), split="ortho", val_frac=0.2).val_frac
0.2
>>> DatasetOptions(GridSpec(0.05, 640, 128), image_format="gif")
Traceback (most recent call last):
...
poppyscan.errors.ConfigError: image_format='gif': use one of png, jpg
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from poppyscan.config import defaults
from poppyscan.errors import ConfigError

if TYPE_CHECKING:
    from poppyscan.tiles.grid import GridSpec

__all__ = ["IMAGE_FORMATS", "LABEL_FORMATS", "SPLIT_MODES", "DatasetOptions"]

DEFAULTS = defaults("dataset")
LABEL_FORMATS = ("auto", "ogr", "yolo", "coco", "voc", "labelstudio", "deepforest")
SPLIT_MODES = ("block", "ortho")
# format -> (image suffix, world-file suffix)
IMAGE_FORMATS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"png": (".png", ".pgw"), "jpg": (".jpg", ".jgw")})
YOLO_STRIDE_PX = 32
DEFAULT_MIN_VALID_FRAC = float(defaults("tiling")["min_valid_frac"])  # tiles.stream's too


@dataclass(frozen=True)
class DatasetOptions:
    """How chips are cut, labelled, drawn and split (``build_dataset``'s settings).

    ``grid``: the model's chip grid (``tile_px`` a multiple of 32; ``gsd_m=None``
    keeps the source resolution). ``class_names`` (default: the labels' classes,
    sorted) fixes the class indexes; ``class_map`` renames label classes first;
    ``default_class`` names labels whose file gives no class. ``min_visible_frac``
    (0-1]: least visible part of a label kept in a chip. ``negative_ratio`` [0, 100]:
    label-free chips kept per positive chip, per split. ``split``: ``block`` (ground
    blocks of ``block_m`` metres) or ``ortho`` (whole orthomosaics); ``val_frac`` and
    ``test_frac``: shares of chips per split; ``seed`` fixes the split and the
    negatives. ``image_format``: png or jpg (``jpeg_quality`` 1-100).
    ``min_valid_frac``: chips less valid than this are collar. ``bands``: the RGB
    bands (1-based) [the raster's own]. ``label_format``: one of LABEL_FORMATS.
    ``workers``: reader threads.
    """

    grid: GridSpec
    class_names: tuple[str, ...] | None = None
    class_map: Mapping[str, str] | None = None
    default_class: str | None = None
    min_visible_frac: float = DEFAULTS["min_visible_frac"]
    negative_ratio: float = DEFAULTS["negative_ratio"]
    split: str = DEFAULTS["split"]
    block_m: float | None = DEFAULTS["block_m"]
    val_frac: float = DEFAULTS["val_frac"]
    test_frac: float = DEFAULTS["test_frac"]
    seed: int = DEFAULTS["seed"]
    image_format: str = DEFAULTS["image_format"]
    jpeg_quality: int = DEFAULTS["jpeg_quality"]
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC
    bands: tuple[int, ...] | None = None
    label_format: str = DEFAULTS["label_format"]
    workers: int = field(default=2)

    def __post_init__(self) -> None:
        # Sequences and mappings are copied, so a caller's list changed later changes nothing.
        for name in ("class_names", "bands"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.class_map is not None:
            object.__setattr__(self, "class_map", MappingProxyType(dict(self.class_map)))
        _check(self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> DatasetOptions:
        """From keyword settings; a key that is not an option is one ConfigError naming it."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ConfigError(f"unknown dataset settings {unknown}; valid: {', '.join(names)}")
        if "grid" not in settings:
            raise ConfigError("no grid given; pass grid=GridSpec(gsd_m, tile_px, overlap_px)")
        return cls(**settings)

    def summary(self, block_m: float | None) -> dict[str, Any]:
        """What the dataset's summary records of these options (``block_m`` as resolved)."""
        return dict(split=self.split, block_m=block_m, val_frac=self.val_frac,
                    test_frac=self.test_frac, seed=self.seed,
                    min_visible_frac=self.min_visible_frac, negative_ratio=self.negative_ratio,
                    min_valid_frac=self.min_valid_frac, image_format=self.image_format)


def _check(options: DatasetOptions) -> None:
    """Each problem is one ConfigError naming the setting and its valid range."""
    grid = options.grid
    if not hasattr(grid, "tile_px"):
        raise ConfigError(f"grid={grid!r} must be a GridSpec (gsd_m, tile_px, overlap_px)")
    if grid.tile_px % YOLO_STRIDE_PX:
        raise ConfigError(
            f"tile_px={grid.tile_px} must be a multiple of {YOLO_STRIDE_PX} (YOLO stride), e.g. "
            f"{max(YOLO_STRIDE_PX, grid.tile_px // YOLO_STRIDE_PX * YOLO_STRIDE_PX)}")
    if not 0 < options.min_visible_frac <= 1:
        raise ConfigError(f"min_visible_frac={options.min_visible_frac!r} must be in (0, 1]")
    if not 0 <= options.negative_ratio <= 100:
        raise ConfigError(f"negative_ratio={options.negative_ratio!r} must be in [0, 100] "
                          "negatives per positive")
    _one_of("split", options.split, SPLIT_MODES)
    if options.block_m is not None and options.split != "block":
        raise ConfigError(f"block_m={options.block_m!r} applies only to split='block'")
    check_fracs(options.val_frac, options.test_frac)
    _one_of("image_format", options.image_format, tuple(IMAGE_FORMATS))
    if not 1 <= options.jpeg_quality <= 100:
        raise ConfigError(f"jpeg_quality={options.jpeg_quality!r} must be in [1, 100]")
    _one_of("label_format", options.label_format, LABEL_FORMATS)
    if options.workers < 1:
        raise ConfigError(f"workers={options.workers!r} must be at least 1")


def _one_of(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: use one of {', '.join(choices)}")


def check_fracs(val_frac: float, test_frac: float) -> None:
    """ConfigError unless ``val_frac`` is in (0, 1), ``test_frac`` in [0, 1) and their sum < 1."""
    if not 0 < val_frac < 1:
        raise ConfigError(f"val_frac={val_frac!r} must be in (0, 1): training needs a validation split")
    if not 0 <= test_frac < 1:
        raise ConfigError(f"test_frac={test_frac!r} must be in [0, 1)")
    if val_frac + test_frac >= 1:
        raise ConfigError(
            f"val_frac + test_frac = {val_frac + test_frac:g} must be below 1 to leave a train split"
        )
