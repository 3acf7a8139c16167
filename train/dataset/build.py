"""Build an Ultralytics detection dataset from orthomosaics and label polygons.

Chips come from the same grid and reader as detection (:func:`tiles.iter_chips`),
so the model trains on exactly what it will see in the field. Layout::

    DS/data.yaml                  train/val/test relative to DS (no ``path:``), names
    DS/images/<split>/<id>.png    chips, with .pgw world file and .aux.xml (CRS)
    DS/labels/<split>/<id>.txt    YOLO boxes ``class cx cy w h`` (empty for negatives)
    DS/chips.gpkg                 chip index: id, split, source, row, col, window, and the
                                  chip's ground (its footprint, cropped at split edges)
    DS/summary.json               counts per split and class, what was dropped, options

``data.yaml`` has no ``path`` key: Ultralytics then resolves the splits against
the folder holding ``data.yaml``, so the dataset works from any working folder
and after being moved. It is written last: a dataset without it is incomplete.

The summary's ``counts``: ``labels_in`` (labels given), ``slivers_dropped``
(label pieces too small to keep, one per chip), ``sliver_only_chips`` (chips
left out because they held only slivers: neither positive nor a clean
negative), ``chips_cropped_split`` (chips written cropped to their split's
ground at a split edge), ``chips_dropped_split`` (chips left out so that no
ground is in two splits), ``collar_chips``, ``negatives_available`` (label-free
chips to draw from), ``hard_negatives_in`` (hard-negative features given),
``hard_negatives_on_labels`` (those ignored for touching a label),
``hard_negative_chips`` (chips kept for them), ``labels_unused`` (labels in no
chip at all, e.g. off the imagery or only in dropped chips),
``negatives_from_chips`` (background chips from ``negatives_from``) and
``negatives_from_collar_chips`` (their collar chips, skipped).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS

from poppyscan.atomic import atomic_write_text
from poppyscan.errors import ConfigError, LabelError
from poppyscan.output_folder import OutputFolder
from poppyscan.tiles import (
    ChipReader,
    ChipStats,
    GridSpec,
    inspect_raster,
    iter_chips,
    with_progress,
)
from poppyscan.tiles.chip import Chip
from poppyscan.tiles.write import ChipIndex, write_chip_index
from poppyscan.train.dataset.boxes import chip_labels
from poppyscan.train.dataset.crop import crop_chip, ground_in_chip_crs
from poppyscan.train.dataset.hard_negatives import HardNegatives
from poppyscan.train.dataset.images import image_suffix, write_chip_image
from poppyscan.train.dataset.negatives import Background, negative_sources, read_negative_sources
from poppyscan.train.dataset.plan import ChipPlan, plan_dataset
from poppyscan.train.dataset.split import SPLITS, default_block_m
from poppyscan.train.dataset.summary import (
    DATA_YAML,
    INDEX_NAME,
    OUTPUTS,
    SUMMARY_NAME,
    DatasetSummary,
    data_yaml_text,
    load_summary,
    native_gsd_m,
    relative_names,
)
from poppyscan.train.dataset_options import DatasetOptions
from poppyscan.train.labels import LabelSet, read_labels
from poppyscan.train.labels.yolo import yolo_label_text

__all__ = ["DatasetOptions", "DatasetSummary", "build_dataset", "load_summary", "OUTPUTS"]

MIN_POSITIVES_FOR_VAL = 3  # with this many labelled chips, val must get one


@dataclass
class _Tally:
    splits: dict[str, dict] = field(
        default_factory=lambda: {s: {"images": 0, "positive": 0, "negative": 0,
                                     "labels": Counter()} for s in SPLITS}
    )
    counts: Counter = field(default_factory=Counter)
    kept_labels: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Inputs:
    """What a dataset is cut from: rasters, labels, and places known to hold no plot."""

    orthos: Sequence[str | os.PathLike]
    labels: LabelSet | str | os.PathLike | Sequence[str | os.PathLike]
    hard_negatives: HardNegatives | Sequence[str | os.PathLike] | None
    negatives_from: Sequence[str | os.PathLike]


def build_dataset(
    orthos: Sequence[str | os.PathLike],
    labels: LabelSet | str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: DatasetOptions | None = None,
    *,
    hard_negatives: HardNegatives | Sequence[str | os.PathLike] | None = None,
    negatives_from: Sequence[str | os.PathLike] = (),
    overwrite: bool = False,
    on_chips: Callable[[int], None] | None = None,
    **settings: Any,
) -> DatasetSummary:
    """Cut ``orthos`` into labelled chips in the Ultralytics layout (see the module doc).

    ``options``: a :class:`~poppyscan.train.dataset_options.DatasetOptions` (the grid,
    classes, negatives, split and image settings), or its fields as keywords
    (``grid=GridSpec(...), split="ortho"``); defaults: ``configs/dataset.yaml``.
    With ``grid.gsd_m=None`` every ortho must share its GSD within 1 % (the
    summary records it as the dataset's GSD).
    ``hard_negatives``: vector files (or a
    :class:`~poppyscan.train.dataset.hard_negatives.HardNegatives`) of places
    known to hold no plot; every label-free chip meeting one is kept, on top of
    the random draw, and hard negatives touching a label are ignored.
    ``negatives_from``: orthomosaics known to hold no plot (real poppy-free
    ground): every non-collar chip of theirs, on the same grid, is written as a
    background chip (empty label file) into the train split. They hold nothing
    for val and test to score; measure false targets on held-out poppy-free
    images instead (``scripts/false_targets.py``). ``on_chips(n)`` reports chips read.
    The summary's ``counts`` are described in the module doc.
    """
    if options is None:
        options = DatasetOptions.from_settings(settings)
    elif settings:
        raise ConfigError(f"pass options or the settings {sorted(settings)} as keywords, not both")
    if not orthos:
        raise ConfigError("no orthomosaics given; pass at least one")
    inputs = _Inputs(orthos, labels, hard_negatives, negatives_from)
    out_dir = Path(out_dir)
    folder = OutputFolder(out_dir, OUTPUTS, manifest=SUMMARY_NAME)
    with folder.open():  # the old dataset stays until the new one is complete
        existing = folder.has_outputs()
        if existing and not overwrite:
            raise ConfigError(f"{out_dir}: already holds {', '.join(existing)}; pass overwrite=True / "
                              "--overwrite")
        stage = folder.staging()
        try:
            summary = _build(stage, out_dir, inputs, options, on_chips)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        folder.publish(stage)
    return summary


class _Writer:
    """Writes chips, labels and the chip index into the staging folder, and counts them."""

    def __init__(self, out_dir: Path, names: Sequence[str], crs: CRS,
                 options: DatasetOptions) -> None:
        self.out_dir, self.names, self.crs, self.options = out_dir, names, crs, options
        self.suffix = image_suffix(options.image_format)
        self.tally, self.index = _Tally(), ChipIndex()

    def write(self, chip: Chip, plan: ChipPlan | Background, boxes: np.ndarray,
              n_slivers: int) -> None:
        """One chip image and its YOLO label file, indexed and counted."""
        name, split = f"{plan.chip_id}{self.suffix}", plan.split
        write_chip_image(chip, self.out_dir / "images" / split / name,
                         image_format=self.options.image_format,
                         jpeg_quality=self.options.jpeg_quality)
        text = yolo_label_text(boxes[:, 0], boxes[:, 1:])
        atomic_write_text(self.out_dir / "labels" / split / f"{plan.chip_id}.txt", text)
        self.index.add(chip, f"images/{split}/{name}")
        window = chip.window
        self.index.rows[-1].update(
            chip_id=plan.chip_id, split=split, negative=not len(boxes), n_labels=len(boxes),
            n_slivers=n_slivers, win_col_off=float(window.col_off),
            win_row_off=float(window.row_off), win_width=float(window.width),
            win_height=float(window.height), cropped=plan.region is not None,
            geometry=ground_in_chip_crs(plan, self.crs, chip),
        )
        self.tally.counts["chips_cropped_split"] += plan.region is not None
        counts = self.tally.splits[split]
        counts["images"] += 1
        counts["negative" if not len(boxes) else "positive"] += 1
        counts["labels"].update(self.names[int(c)] for c in boxes[:, 0])

    def finish(self, summary: DatasetSummary) -> None:
        """The chip index, summary.json and (last) data.yaml."""
        self.index.rows.sort(key=lambda row: (SPLITS.index(row["split"]), row["chip_id"]))
        write_chip_index(self.index, self.out_dir / INDEX_NAME)
        atomic_write_text(self.out_dir / SUMMARY_NAME,
                          json.dumps(summary.to_dict(), indent=2) + "\n")
        splits = [sp for sp in SPLITS if self.tally.splits[sp]["images"]]
        atomic_write_text(self.out_dir / DATA_YAML, data_yaml_text(self.names, splits))


def _build(out_dir: Path, final_dir: Path, inputs: _Inputs, options: DatasetOptions,
           on_chips: Callable[[int], None] | None) -> DatasetSummary:
    """Write the dataset into the staging folder ``out_dir``; its summary names ``final_dir``."""
    grid = options.grid
    label_set = _as_label_set(inputs.labels, options.label_format,
                              options.default_class).renamed(options.class_map)
    names = _class_names(label_set, options.class_names)
    hard = _as_hard_negatives(inputs.hard_negatives, label_set)
    infos = [inspect_raster(path, bands=options.bands) for path in inputs.orthos]
    gsd_m = grid.gsd_m if grid.gsd_m is not None else native_gsd_m(infos)
    _check_block(grid, gsd_m, options.split, options.block_m)
    negative_infos = negative_sources(inputs.negatives_from, infos, options.bands)
    crs = CRS.from_user_input(infos[0].crs.to_wkt())
    rng = np.random.default_rng(options.seed)
    block_m = options.block_m
    if options.split == "block" and block_m is None:
        block_m = default_block_m(gsd_m, grid.tile_px, grid.overlap_px)
    local = _LocalLabels(label_set, names)
    plans = plan_dataset(infos, grid, crs, local.for_crs(crs)[1], split=options.split,
                         block_m=block_m, val_frac=options.val_frac, test_frac=options.test_frac,
                         rng=rng, min_valid_frac=options.min_valid_frac,
                         min_visible_frac=options.min_visible_frac)
    writer = _Writer(out_dir, names, crs, options)
    tally = writer.tally
    tally.counts.update(labels_in=len(label_set), hard_negatives_in=hard.n_in,
                        hard_negatives_on_labels=hard.n_on_labels)
    negatives = _read_positives(infos, plans, local, hard, writer, on_chips)
    _add_negatives(negatives, plans, writer, rng)
    read_negative_sources(negative_infos, grid, tally.counts, writer.write,
                          min_valid_frac=options.min_valid_frac, workers=options.workers,
                          on_chips=on_chips)
    _check_splits(final_dir, tally)
    summary = DatasetSummary(
        final_dir, names, float(gsd_m), grid.tile_px, grid.overlap_px,
        crs.to_string(), relative_names([i.path for i in infos]),
        {s: {**c, "labels": dict(sorted(c["labels"].items()))} for s, c in tally.splits.items()},
        _final_counts(tally, len(label_set)),
        _summary_options(options, block_m, hard, negative_infos),
    )
    writer.finish(summary)
    return summary


def _summary_options(options: DatasetOptions, block_m: float | None, hard: HardNegatives,
                     negative_infos) -> dict[str, Any]:
    """The options the summary records: what was asked, with block_m as resolved."""
    jpg = options.image_format == "jpg"
    return {**options.summary(block_m),
            **({"gsd": "native"} if options.grid.gsd_m is None else {}),
            **({"hard_negatives": list(relative_names(hard.sources))} if hard.sources else {}),
            **({"negatives_from": list(relative_names([i.path for i in negative_infos]))}
               if negative_infos else {}),
            **({"jpeg_quality": int(options.jpeg_quality)} if jpg else {})}


def _check_block(grid: GridSpec, gsd_m: float, split: str, block_m: float | None) -> None:
    least = (grid.tile_px + grid.overlap_px) * gsd_m
    if split == "block" and block_m is not None and not block_m >= least:
        raise ConfigError(f"block_m={block_m!r} must be at least a chip plus its overlap ({least:g} m)")


def _as_label_set(labels, label_format: str, default_class: str | None = None) -> LabelSet:
    if isinstance(labels, LabelSet):
        return labels
    paths = [labels] if isinstance(labels, (str, os.PathLike)) else list(labels)
    if not paths:
        raise ConfigError("no label files given; pass at least one")
    sets = [p if isinstance(p, LabelSet)
            else read_labels(p, format=label_format, default_class=default_class) for p in paths]
    return sets[0] if len(sets) == 1 else LabelSet.concat(sets)


def _class_names(label_set: LabelSet, class_names: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(class_names) if class_names else label_set.class_names
    if not names:
        raise LabelError(f"{label_set.source}: no labels and no class names; nothing to train on")
    if len(set(names)) != len(names):
        raise ConfigError(f"class names {list(names)!r} repeat a name")
    unknown = sorted(set(label_set.classes) - set(names))
    if unknown:
        raise LabelError(
            f"{label_set.source}: classes {unknown} are not in the class names {list(names)}; "
            "add them or relabel"
        )
    return names


class _LocalLabels:
    """The label set in each raster's CRS, with a spatial index, built once per CRS."""

    def __init__(self, label_set: LabelSet, names: Sequence[str]) -> None:
        self.label_set = label_set
        lookup = {name: i for i, name in enumerate(names)}
        self.class_ids = np.array([lookup[c] for c in label_set.classes], dtype="int64")
        self._by_crs: dict[str, tuple[np.ndarray, shapely.STRtree]] = {}

    def for_crs(self, crs) -> tuple[np.ndarray, shapely.STRtree]:
        key = crs.to_wkt()
        if key not in self._by_crs:
            geoms = self.label_set.to_crs(key).geometries
            self._by_crs[key] = (geoms, shapely.STRtree(geoms))
        return self._by_crs[key]


def _as_hard_negatives(hard_negatives, label_set: LabelSet) -> HardNegatives:
    hard = hard_negatives if isinstance(hard_negatives, HardNegatives) else (
        HardNegatives.read(hard_negatives or []))
    return hard.without_labels(label_set.geometries, label_set.crs) if hard.n_in and len(label_set) else hard


def _own_part(chip: Chip, plan: ChipPlan, crs) -> Chip:
    """The chip cropped to its split's ground (itself when no split edge crosses it)."""
    return chip if plan.region is None else crop_chip(chip, ground_in_chip_crs(plan, crs, chip))


def _read_positives(infos, plans, local: _LocalLabels, hard: HardNegatives, writer: _Writer,
                    on_chips: Callable[[int], None] | None) -> dict[str, list]:
    """Read every chip once: write the labelled ones, return the label-free ones by split.

    Chips crossing a split edge are cropped first. A label-free chip meeting a
    hard negative is written at once.
    """
    options, tally = writer.options, writer.tally
    negatives: dict[str, list] = defaultdict(list)
    stats = ChipStats()
    chips = iter_chips(infos, options.grid, min_valid_frac=options.min_valid_frac,
                       workers=options.workers, stats=stats)
    for chip in with_progress(chips, stats, on_chips):
        plan = plans.get(chip.key)
        if plan is None or plan.split is None:
            tally.counts["chips_dropped_split"] += 1
            continue
        chip = _own_part(chip, plan, writer.crs)
        if chip.valid_frac < options.min_valid_frac:  # its own split's part is all collar
            tally.counts["chips_dropped_split"] += 1
            continue
        geoms, tree = local.for_crs(chip.crs)
        found = chip_labels(chip, geoms, local.class_ids, tree,
                            min_visible_frac=options.min_visible_frac)
        tally.counts["slivers_dropped"] += found.slivers
        if found.positive:
            writer.write(chip, plan, found.boxes, found.slivers)
            tally.kept_labels.update(found.label_ids)
        elif found.touched:
            tally.counts["sliver_only_chips"] += 1
        elif hard.in_chip(chip):
            writer.write(chip, plan, np.zeros((0, 5)), 0)
            tally.counts["hard_negative_chips"] += 1
        else:
            negatives[plan.split].append((chip.key, chip.valid_frac))
    tally.counts["collar_chips"] = stats.skipped_collar
    return negatives


def _add_negatives(negatives, plans, writer: _Writer, rng: np.random.Generator) -> None:
    """Draw ``negative_ratio`` label-free chips per positive chip in each split and write them."""
    tally, ratio = writer.tally, writer.options.negative_ratio
    chosen: list[tuple[str, int, int]] = []
    for split in SPLITS:
        pool = sorted(key for key, _ in negatives.get(split, []))
        tally.counts["negatives_available"] += len(pool)
        want = min(len(pool), int(round(ratio * tally.splits[split]["positive"])))
        picks = rng.choice(len(pool), size=want, replace=False) if want else []
        chosen.extend(pool[i] for i in sorted(picks))
    by_source: dict[str, list] = defaultdict(list)
    for key in chosen:
        by_source[key[0]].append(plans[key])
    for items in by_source.values():
        with ChipReader(items[0].info, writer.options.grid) as reader:
            for plan in items:
                chip = _own_part(reader.read(plan.cell), plan, writer.crs)
                writer.write(chip, plan, np.zeros((0, 5)), 0)


def _check_splits(out_dir: Path, tally: _Tally) -> None:
    empty = [s for s in ("train", "val") if not tally.splits[s]["images"]]
    positives = sum(counts["positive"] for counts in tally.splits.values())
    if not empty and positives >= MIN_POSITIVES_FOR_VAL and not tally.splits["val"]["positive"]:
        empty = ["val"]
    if empty:
        raise ConfigError(
            f"{out_dir}: the {' and '.join(empty)} split got no labelled chips; add orthomosaics "
            "or labels, use smaller blocks (block_m) or split='ortho' with more orthomosaics"
        )


def _final_counts(tally: _Tally, n_labels: int) -> dict[str, int]:
    counts = {key: int(tally.counts.get(key, 0)) for key in (
        "labels_in", "slivers_dropped", "sliver_only_chips", "chips_cropped_split",
        "chips_dropped_split", "collar_chips", "negatives_available", "hard_negatives_in",
        "hard_negatives_on_labels", "hard_negative_chips", "negatives_from_chips",
        "negatives_from_collar_chips")}
    counts["labels_unused"] = n_labels - len(tally.kept_labels)
    return counts
