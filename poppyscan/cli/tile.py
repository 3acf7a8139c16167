"""``poppyscan tile``: cut orthomosaics into georeferenced GeoTIFF chips."""

from __future__ import annotations

import click

from poppyscan.cli.options import ProgressBar, grid_options


@click.command()
@click.argument("orthos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: chips/*.tif and chips.gpkg (the chip index).")
@grid_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of tiling settings, keys as in configs/tiling.yaml.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
def tile(orthos, out_dir, config_path, overwrite, **settings) -> None:
    """Cut ORTHO... into chips at the model GSD, skipping collar chips.

    Chips are RGBA GeoTIFFs (alpha = valid mask) that QGIS opens in place; the
    chip index holds each chip's footprint, grid position, source and valid fraction.
    """
    import poppyscan.api as ps

    with ProgressBar("tiling") as progress:
        run = ps.tile(orthos, out_dir, config=config_path, overwrite=overwrite, progress=progress,
                      **settings)
    click.echo(f"{run.stats.yielded} chips written to {run.chips_dir}, {run.stats.skipped_collar} "
               f"collar chips skipped; index: {run.index_path}")
