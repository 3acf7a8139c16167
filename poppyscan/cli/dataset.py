"""``poppyscan dataset build``: orthomosaics + labels -> an Ultralytics training dataset."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import ProgressBar, class_map_option, default_of, grid_options
from poppyscan.train.dataset_options import IMAGE_FORMATS, LABEL_FORMATS, SPLIT_MODES  # no GDAL


@click.group("dataset")
def dataset() -> None:
    """Build training datasets from labelled orthomosaics."""


@dataset.command("build")
@click.option("--ortho", "orthos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Orthomosaic GeoTIFF; repeat for several.")
@click.option("--labels", "labels", multiple=True, type=click.Path(exists=True),
              help="Label file or folder (any `poppyscan labels import` format); repeat for "
                   "several. Needed unless --registry gives labels.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Dataset folder: data.yaml, images/, labels/, chips.gpkg, summary.json.")
@click.option("--label-format", type=click.Choice(LABEL_FORMATS), default=None,
              help="Format of --labels; auto picks it from the suffix and content "
                   f"{default_of('dataset', 'label_format')}.")
@click.option("--classes", default=None, metavar="NAME,...",
              help="Class names in index order, comma-separated [the labels' classes, sorted].")
@click.option("--model", "model", default=None, type=click.Path(exists=True),
              help="Take GSD, tile and overlap from this model bundle's card (to fine-tune it) "
                   "[from the flags, --config and configs/tiling.yaml].")
@grid_options
@click.option("--min-visible", "min_visible_frac", type=click.FloatRange(0, 1, min_open=True),
              default=None,
              help="Least share of a label visible in a chip for it to be kept, (0, 1]; smaller "
                   f"pieces are slivers and dropped {default_of('dataset', 'min_visible_frac')}.")
@click.option("--negative-ratio", type=click.FloatRange(0, 100), default=None,
              help="Chips without labels kept per labelled chip, per split, 0-100 "
                   f"{default_of('dataset', 'negative_ratio')}.")
@click.option("--hard-negatives", "hard_negatives", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Vector file of places known to hold no plot (an earlier run's false targets, "
                   "field verdicts 'false positive'); every label-free chip meeting one is kept. "
                   "Repeat for several.")
@click.option("--hard-negatives-layer", default=None, metavar="NAME",
              help="Layer of the --hard-negatives files, when they have several (waypoints in "
                   "GPX, targets or plots in targets.gpkg) [the only layer].")
@click.option("--negatives-from", "negatives_from", multiple=True,
              type=click.Path(exists=True, dir_okay=False), metavar="ORTHO",
              help="Orthomosaic known to hold no plot (real poppy-free ground): every chip of it "
                   "that is not collar becomes a background chip of the train split, at the "
                   "model's GSD. Repeat for several [none].")
@click.option("--registry", "registry", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Mission registry (GeoPackage): crews' verdicts over the --ortho files that "
                   "meet the evidence rule add confirmed plots as labels and false positives as "
                   "hard negatives [none].")
@click.option("--verdict-labels", default="confirmed,eradicated", show_default=True,
              metavar="STATUS,...", help="Verdicts that make a label (with --registry).")
@click.option("--verdict-negatives", default="false_positive", show_default=True,
              metavar="STATUS,...", help="Verdicts that make a hard negative (with --registry).")
@click.option("--require-photo", is_flag=True,
              help="Count only verdicts with a photo (with --registry) [a visit date suffices].")
@click.option("--visited-since", default=None, metavar="DATE",
              help="Count only visits on or after DATE, ISO 8601 (with --registry) [all].")
@click.option("--split", "split", type=click.Choice(SPLIT_MODES), default=None,
              help="block: ground blocks go to train/val/test; ortho: whole orthomosaics do "
                   f"{default_of('dataset', 'split')}.")
@click.option("--block-m", type=click.FloatRange(0, min_open=True), default=None, metavar="METRES",
              help="Side of the split blocks in metres, at least a chip plus its overlap "
                   "[whole chip strides, about two chips].")
@click.option("--val-frac", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help=f"Share of labelled chips for validation, (0, 1) {default_of('dataset', 'val_frac')}.")
@click.option("--test-frac", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Share of labelled chips held out for testing, [0, 1) "
                   f"{default_of('dataset', 'test_frac')}.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help=f"Seed of the split and the negative draw, >= 0 {default_of('dataset', 'seed')}.")
@click.option("--image-format", type=click.Choice(list(IMAGE_FORMATS)), default=None,
              help="Chip images: png (lossless) or jpg (see --jpeg-quality) "
                   f"{default_of('dataset', 'image_format')}.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=None,
              help=f"JPEG quality of jpg chips, 1-100 {default_of('dataset', 'jpeg_quality')}.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of settings, keys as in configs/tiling.yaml and configs/dataset.yaml.")
@class_map_option
@click.option("--class", "default_class", default=None, metavar="NAME",
              help="Class of labels whose file names none [none: such labels are an error].")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset in --out.")
def build(orthos, labels, out_dir, classes, model, hard_negatives, hard_negatives_layer,
          negatives_from, registry,
          verdict_labels, verdict_negatives, require_photo, visited_since, config_path, overwrite,
          **settings) -> None:
    """Cut --ortho files into labelled chips on the model's grid, split by ground blocks."""
    import poppyscan.api as ps

    if not labels and registry is None:
        raise click.UsageError("give --labels, --registry, or both")
    evidence = dict(positive=_statuses(verdict_labels), negative=_statuses(verdict_negatives),
                    require_photo=require_photo, visited_since=visited_since)

    names = [n.strip() for n in classes.split(",")] if classes else None
    if names is not None and not all(names):
        raise click.BadParameter(f"{classes!r}: empty class name; give names separated by commas",
                                 param_hint="--classes")
    with ProgressBar("chips") as progress:
        summary = ps.build_dataset(
            orthos, labels, out_dir, model=model, class_names=names,
            hard_negatives=hard_negatives, hard_negatives_layer=hard_negatives_layer,
            negatives_from=negatives_from, registry=registry, evidence=evidence,
            config=config_path, overwrite=overwrite, progress=progress, **settings)
    _echo_summary(summary, Path(out_dir))


def _statuses(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _echo_summary(summary, out: Path) -> None:
    click.echo(f"Dataset {out}: {summary.tile_px} px chips at {summary.gsd_m:g} m, "
               f"classes {', '.join(summary.class_names)}")
    for split, counts in summary.splits.items():
        labels = ", ".join(f"{k}: {v}" for k, v in counts["labels"].items()) or "none"
        click.echo(f"  {split:<5} {counts['images']:>6} chips ({counts['positive']} labelled, "
                   f"{counts['negative']} empty); labels {labels}")
    c = summary.counts
    click.echo(f"  dropped: {c['slivers_dropped']} label slivers, {c['sliver_only_chips']} chips "
               f"with slivers only, {c['chips_dropped_split']} chips straddling splits, "
               f"{c['collar_chips']} collar chips; {c['labels_unused']} of {c['labels_in']} "
               f"labels in no chip; {c.get('chips_cropped_split', 0)} chips cropped at a split edge")
    if c.get("hard_negatives_in"):
        click.echo(f"  hard negatives: {c['hard_negative_chips']} empty chips kept for them; "
                   f"{c['hard_negatives_on_labels']} of {c['hard_negatives_in']} ignored (on a label)")
    if summary.options.get("negatives_from"):
        click.echo(f"  real negatives: {c['negatives_from_chips']} background chips (train split) "
                   f"from {len(summary.options['negatives_from'])} poppy-free orthomosaics; "
                   f"{c['negatives_from_collar_chips']} collar chips skipped")
    click.echo(f"  train with: poppyscan train --data {out}")
