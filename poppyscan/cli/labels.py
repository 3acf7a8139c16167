"""``poppyscan labels``: import labels from any format; export chips for Label Studio and CVAT."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import class_map_option

# Kept in step with train.labels (LABEL_FORMATS, EXPORT_FORMATS); repeated here so
# `--help` does not import GDAL.
IMPORT_FORMATS = ("auto", "ogr", "yolo", "coco", "voc", "labelstudio", "deepforest")
EXPORT_FORMATS = ("labelstudio", "yolo")
OUT_SUFFIXES = (".gpkg", ".geojson")


def _split_names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"{value!r}: empty class name; give names separated by commas")
    return names


def _class_names_option(help: str):
    """``--class-names a,b``, parsed to a list (None when not given)."""
    return click.option("--class-names", callback=_split_names, help=help)


def _label_format_option(flag: str, dest: str, help: str):
    """A choice of :data:`IMPORT_FORMATS`, ``auto`` by default."""
    return click.option(flag, dest, type=click.Choice(IMPORT_FORMATS), default="auto",
                        show_default=True, help=help)


@click.group("labels")
def labels() -> None:
    """Round-trip labels with Label Studio and CVAT; import labels from other tools."""


@labels.command("import", short_help="Import labels from any format as georeferenced polygons.")
@click.argument("labels_path", metavar="LABELS", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output label polygons: a .gpkg or .geojson file (in the labels' CRS).",
)
@_label_format_option("--format", "label_format",
                      "Format of LABELS; auto picks it from the suffix and content.")
@click.option(
    "--images",
    "images_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the georeferenced images that pixel labels refer to. [default: beside LABELS]",
)
@_class_names_option("Comma-separated class names by index, for YOLO. "
                     "[default: from data.yaml / classes.txt / obj.names]")
@click.option(
    "--class-field",
    default="label",
    show_default=True,
    help="Attribute holding the class name, for vector files.",
)
@click.option(
    "--default-class",
    default=None,
    help="Class of labels whose file gives none. [default: none; such labels are an error]",
)
@click.option(
    "--layer", help="Layer of a multi-layer vector file (name). [default: the only layer]"
)
@click.option(
    "--predictions",
    is_flag=True,
    help="Label Studio: read the pre-annotations (predictions) instead of the annotations.",
)
@class_map_option
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def import_labels(
    labels_path: Path,
    out_path: Path,
    label_format: str,
    images_dir: Path | None,
    class_names: list[str] | None,
    class_field: str,
    default_class: str | None,
    layer: str | None,
    predictions: bool,
    class_map: dict[str, str] | None,
    overwrite: bool,
) -> None:
    """Read LABELS (vector file, YOLO, COCO, VOC, Label Studio, DeepForest CSV) and write
    georeferenced label polygons."""
    from poppyscan.errors import ConfigError
    from poppyscan.train.labels import read_labels

    if out_path.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(f"{out_path}: --out must end in {' or '.join(OUT_SUFFIXES)}")
    if out_path.exists() and not overwrite:
        raise ConfigError(f"{out_path}: already exists; pass --overwrite to replace it")
    label_set = read_labels(
        labels_path,
        format=label_format,
        images_dir=images_dir,
        class_names=class_names,
        class_field=class_field,
        default_class=default_class,
        layer=layer,
        labelstudio_kind="predictions" if predictions else "annotations",
    ).renamed(class_map)
    label_set.write(out_path)
    counts = ", ".join(f"{name}: {n}" for name, n in label_set.class_counts().items()) or "none"
    click.echo(f"Imported {len(label_set)} labels ({counts}) in {label_set.crs.name} -> {out_path}")


@labels.command("export")
@click.option(
    "--chips",
    "chips_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of georeferenced GeoTIFF chips (searched recursively).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for the labelling tool.",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help="labelstudio: tasks.json + labeling_config.xml + images/; "
    "yolo: Ultralytics YOLO layout that CVAT imports.",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(exists=True, path_type=Path),
    help="Existing labels (any import format) to clip to each chip as pre-annotations. "
    "[default: none, chips only]",
)
@_label_format_option("--labels-format", "labels_format", "Format of --labels.")
@_class_names_option("Comma-separated class names offered in the tool. "
                     "[default: the classes of --labels, else 'poppy']")
@click.option(
    "--min-box-px",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Drop clipped pre-annotation boxes narrower or shorter than this, in pixels (>= 0).",
)
@click.option(
    "--image-url-prefix",
    default="/data/local-files/?d=",
    show_default=True,
    help="Label Studio: prefix of image URLs; paths follow, relative to --out.",
)
@click.option("--overwrite", is_flag=True, help="Write into --out even if it is not empty.")
def export_labels(
    chips_dir: Path,
    out_dir: Path,
    export_format: str,
    labels_path: Path | None,
    labels_format: str,
    class_names: list[str] | None,
    min_box_px: float,
    image_url_prefix: str,
    overwrite: bool,
) -> None:
    """Write chips with pre-annotations for Label Studio or CVAT."""
    from poppyscan.errors import ConfigError
    from poppyscan.train.labels import (
        ChipBoxes,
        boxes_from_labels,
        export_chips,
        list_chips,
        read_labels,
    )

    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"{out_dir}: folder is not empty; pass --overwrite to write into it")
    chips = list_chips(chips_dir)
    if labels_path is not None:
        label_set = read_labels(labels_path, format=labels_format)
        chip_boxes = boxes_from_labels(label_set, chips, min_box_px=min_box_px)
        class_names = class_names or list(label_set.class_names) or ["poppy"]
    else:
        chip_boxes = [ChipBoxes(chip, [], []) for chip in chips]
        class_names = class_names or ["poppy"]
    main_file = export_chips(
        chip_boxes,
        out_dir,
        format=export_format,
        class_names=class_names,
        image_url_prefix=image_url_prefix,
        model_version="labels" if labels_path is not None else "none",
    )
    n_boxes = sum(len(c.classes) for c in chip_boxes)
    click.echo(
        f"Exported {len(chip_boxes)} chips with {n_boxes} pre-annotations ({export_format}) -> {main_file}"
    )
