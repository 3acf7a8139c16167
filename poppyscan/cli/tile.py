"""``poppyscan tile``: cut orthomosaics into georeferenced GeoTIFF chips."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import check_out_dir, grid_options, parse_bands, parse_gsd, progress

INDEX_NAME = "chips.gpkg"


@click.command()
@click.argument("orthos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: chips/*.tif and chips.gpkg (the chip index).")
@grid_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Tiling config YAML [configs/tiling.yaml].")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
def tile(orthos, out_dir, gsd, tile_px, overlap_px, min_valid_frac, bands, workers,
         config_path, overwrite) -> None:
    """Cut ORTHO... into chips at the model GSD, skipping collar chips.

    Chips are RGBA GeoTIFFs (alpha = valid mask) that QGIS opens in place; the
    chip index holds each chip's footprint, grid position, source and valid fraction.
    """
    from poppyscan.config import load_config
    from poppyscan.tiles import ChipStats, GridSpec, inspect_raster, iter_chips, plan_chips
    from poppyscan.tiles.write import ChipIndex, write_chip_index, write_chips

    gsd_m = parse_gsd(gsd)
    config = load_config("tiling", config_path, tile_px=tile_px, overlap_px=overlap_px,
                         min_valid_frac=min_valid_frac, bands=parse_bands(bands), workers=workers)
    if gsd_m == "unset":
        gsd_m = parse_gsd(str(config.get("gsd_m", 0.05)))
    spec = GridSpec(gsd_m=gsd_m, tile_px=int(config["tile_px"]),
                    overlap_px=int(config["overlap_px"]))
    out = Path(out_dir)
    check_out_dir(out, [INDEX_NAME, "chips"], overwrite)

    infos = [inspect_raster(path, bands=config.get("bands")) for path in orthos]
    min_valid = float(config["min_valid_frac"])
    total = sum(len(plan_chips(info, spec, min_valid_frac=min_valid)[0]) for info in infos)
    stats, index = ChipStats(), ChipIndex()
    chips = iter_chips(infos, spec, min_valid_frac=min_valid, workers=int(config["workers"]),
                       stats=stats)
    with progress("tiling", total) as advance:
        for chip, path in write_chips(_counted(chips, stats, advance), out / "chips"):
            index.add(chip, str(path.relative_to(out)))
    if not index.rows:
        raise click.ClickException("no chip had enough valid pixels; nothing written")
    write_chip_index(index, out / INDEX_NAME)
    click.echo(
        f"{stats.yielded} chips written to {out / 'chips'}, {stats.skipped_collar} collar chips "
        f"skipped; index: {out / INDEX_NAME}"
    )


def _counted(chips, stats, advance):
    """Advance the bar for every chip read, kept or skipped."""
    seen = 0
    for chip in chips:
        advance(stats.read - seen)
        seen = stats.read
        yield chip
    advance(stats.read - seen)
