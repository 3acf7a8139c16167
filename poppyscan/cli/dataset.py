"""``poppyscan dataset build``: orthomosaics + labels -> an Ultralytics training dataset."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import check_out_dir, grid_options, parse_bands, parse_gsd, progress

# Kept in step with train.labels.LABEL_FORMATS and train.dataset; repeated here so
# `--help` does not import GDAL.
LABEL_FORMATS = ("auto", "ogr", "yolo", "coco", "voc", "labelstudio", "deepforest")
SPLIT_MODES = ("block", "ortho")
IMAGE_FORMATS = ("png", "jpg")


@click.group("dataset")
def dataset() -> None:
    """Build training datasets from labelled orthomosaics."""


@dataset.command("build")
@click.option("--ortho", "orthos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Orthomosaic GeoTIFF; repeat for several.")
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(exists=True),
              help="Label file or folder (any `poppyscan labels import` format); repeat for several.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Dataset folder: data.yaml, images/, labels/, chips.gpkg, summary.json.")
@click.option("--label-format", type=click.Choice(LABEL_FORMATS), default="auto", show_default=True,
              help="Format of --labels; auto picks it from the suffix and content.")
@click.option("--classes", default=None, metavar="NAME,...",
              help="Class names in index order, comma-separated [the labels' classes, sorted].")
@click.option("--model", "model", default=None, type=click.Path(exists=True),
              help="Take GSD, tile and overlap from this model bundle's card (to fine-tune it) "
                   "[from the flags and configs/tiling.yaml].")
@grid_options
@click.option("--min-visible", "min_visible_frac", type=click.FloatRange(0, 1, min_open=True),
              default=0.4, show_default=True,
              help="Least share of a label visible in a chip for it to be kept, (0, 1]; smaller "
                   "pieces are slivers and dropped.")
@click.option("--negative-ratio", type=click.FloatRange(0, 100), default=0.25, show_default=True,
              help="Chips without labels kept per labelled chip, per split, 0-100.")
@click.option("--hard-negatives", "hard_negatives", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Vector file of places known to hold no plot (an earlier run's false targets, "
                   "field verdicts 'false positive'); every label-free chip meeting one is kept. "
                   "Repeat for several.")
@click.option("--hard-negatives-layer", default=None, metavar="NAME",
              help="Layer of the --hard-negatives files, when they have several (waypoints in "
                   "GPX, targets or plots in targets.gpkg) [the only layer].")
@click.option("--split", "split", type=click.Choice(SPLIT_MODES), default="block",
              show_default=True,
              help="block: ground blocks go to train/val/test; ortho: whole orthomosaics do.")
@click.option("--block-m", type=click.FloatRange(0, min_open=True), default=None, metavar="METRES",
              help="Side of the split blocks in metres, at least a chip plus its overlap "
                   "[whole chip strides, about two chips].")
@click.option("--val-frac", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.15,
              show_default=True, help="Share of labelled chips for validation, (0, 1).")
@click.option("--test-frac", type=click.FloatRange(0, 1, max_open=True), default=0.15,
              show_default=True, help="Share of labelled chips held out for testing, [0, 1).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the split and the negative draw, >= 0.")
@click.option("--image-format", type=click.Choice(IMAGE_FORMATS), default="png", show_default=True,
              help="Chip images: png (lossless) or jpg (see --jpeg-quality).")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG quality of jpg chips, 1-100.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Tiling config YAML for the grid defaults [configs/tiling.yaml].")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset in --out.")
def build(orthos, labels, out_dir, label_format, classes, model, gsd, tile_px, overlap_px,
          min_valid_frac, bands, workers, min_visible_frac, negative_ratio, hard_negatives,
          hard_negatives_layer, split, block_m, val_frac, test_frac, seed, image_format,
          jpeg_quality, config_path, overwrite) -> None:
    """Cut --ortho files into labelled chips on the model's grid, split by ground blocks."""
    from poppyscan.config import load_config
    from poppyscan.tiles import GridSpec, inspect_raster, plan_chips
    from poppyscan.tiles.errors import ConfigError
    from poppyscan.train.dataset import OUTPUTS, HardNegatives, build_dataset

    check_out_dir(Path(out_dir), list(OUTPUTS), overwrite)
    config = load_config("tiling", config_path, tile_px=tile_px, overlap_px=overlap_px,
                         min_valid_frac=min_valid_frac, bands=parse_bands(bands), workers=workers)
    gsd_m = parse_gsd(gsd)
    if model is not None:
        if any(v is not None for v in (gsd, tile_px, overlap_px)):
            raise ConfigError("--model fixes the grid; drop --gsd, --tile-px and --overlap-px")
        from poppyscan.detect.bundle import load_bundle

        spec = load_bundle(model).grid
    else:
        if gsd_m == "unset":
            gsd_m = parse_gsd(str(config.get("gsd_m", 0.05)))
        spec = GridSpec(gsd_m=gsd_m, tile_px=int(config["tile_px"]),
                        overlap_px=int(config["overlap_px"]))
    names = [n.strip() for n in classes.split(",")] if classes else None
    if names is not None and not all(names):
        raise ConfigError(f"--classes {classes!r}: empty class name; give names separated by commas")
    min_valid = float(config["min_valid_frac"])
    infos = [inspect_raster(path, bands=config.get("bands")) for path in orthos]
    # Bad files fail here, before the progress bar opens.
    hard = HardNegatives.read(hard_negatives, layer=hard_negatives_layer)
    total = sum(len(plan_chips(info, spec, min_valid_frac=min_valid)[0]) for info in infos)
    with progress("chips", total) as advance:
        summary = build_dataset(
            orthos, list(labels), out_dir, grid=spec, class_names=names,
            min_visible_frac=min_visible_frac, negative_ratio=negative_ratio,
            hard_negatives=hard, split=split,
            block_m=block_m, val_frac=val_frac, test_frac=test_frac, seed=seed,
            image_format=image_format, jpeg_quality=jpeg_quality, min_valid_frac=min_valid, bands=config.get("bands"),
            label_format=label_format, workers=int(config["workers"]), overwrite=overwrite,
            on_chips=advance,
        )
    _echo_summary(summary, Path(out_dir))


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
               "labels in no chip")
    if c.get("hard_negatives_in"):
        click.echo(f"  hard negatives: {c['hard_negative_chips']} empty chips kept for them; "
                   f"{c['hard_negatives_on_labels']} of {c['hard_negatives_in']} ignored (on a label)")
    click.echo(f"  train with: poppyscan train --data {out}")
