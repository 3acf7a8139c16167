"""``poppyscan synth``: write a synthetic survey (orthomosaic + ground truth) into a folder."""

from __future__ import annotations

from pathlib import Path

import click

# Keys a synth config file may set: generate_survey's keyword arguments.
CONFIG_KEYS = ("seed", "size_px", "gsd_m", "crs", "mask", "compress", "jpeg_quality", "stages",
               "plot_density_per_ha", "distractor_density_per_ha", "roof_density_per_ha",
               "forest_cover", "block_px",
               "wgs84", "overviews")


@click.command("synth")
@click.option("--seed", type=int, default=None,
              help="Random seed, 0..2^32-1: same seed and options, same bytes [0].")
@click.option("--size-px", type=int, nargs=2, default=None, metavar="W H",
              help="Raster width and height in pixels, each 64-200000 [2048 2048].")
@click.option("--gsd", "gsd_m", type=click.FloatRange(0.015, 0.10), default=None, metavar="METRES",
              help="Ground sample distance in metres, 0.015-0.10 [0.05].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for ortho.tif, plots.geojson and distractors.geojson (created).")
@click.option("--crs", default=None,
              help="Projected CRS in metres; the survey lands inside its area of use "
                   "[EPSG:32647, UTM 47N].")
@click.option("--mask", type=click.Choice(["alpha", "nodata"]), default=None,
              help="Footprint as an alpha band (RGBA) or as nodata=0 (RGB) [alpha].")
@click.option("--compress", type=click.Choice(["jpeg", "deflate"]), default=None,
              help="GeoTIFF compression: JPEG as photogrammetry tools write it, or lossless [jpeg].")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=None,
              help="JPEG quality of the GeoTIFF, 1-100 [90].")
@click.option("--stages", default=None, metavar="LIST",
              help="Comma-separated poppy growth stages to include [rosette,flowering,capsule].")
@click.option("--plot-density", "plot_density_per_ha", type=float, default=None,
              metavar="PER_HA", help="Poppy plots per hectare of flown area, 0-200 [3].")
@click.option("--distractor-density", "distractor_density_per_ha", type=float, default=None,
              metavar="PER_HA", help="Look-alike crop and flower patches per hectare, 0-200 [6].")
@click.option("--roof-density", "roof_density_per_ha", type=float, default=None,
              metavar="PER_HA", help="Roofs (huts, houses) per hectare, 0-200 [0.4].")
@click.option("--forest-cover", type=float, default=None, metavar="FRACTION",
              help="Share of the flown area under forest, 0-0.9 [random 0.35-0.6 per seed].")
@click.option("--block-px", type=click.Choice(["128", "256", "512"]), default=None,
              help="Render block in pixels; the output bytes do not depend on it [512].")
@click.option("--wgs84/--no-wgs84", default=None,
              help="Also write plots_wgs84.geojson (RFC 7946 lon/lat) [no].")
@click.option("--overviews/--no-overviews", default=None,
              help="Build internal overviews, 2x, 4x, ... down to 256 px [no].")
@click.option("--onto", "host", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="ORTHO",
              help="Sow the plots into this real orthomosaic (8-bit RGB(A), projected, 1.5-10 cm "
                   "ground pixels) instead of drawing a whole survey: writes ortho.tif (the host, "
                   "lossless), plots.geojson and composite.json. Takes --seed, --stages, "
                   "--plot-density (per ha of the host's open ground, default 8) and --shadows "
                   "[none: a whole synthetic survey].")
@click.option("--shadows/--no-shadows", default=True,
              help="With --onto: tall plants cast a soft shadow beside the plot [shadows].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of defaults, keys as in configs/synth.yaml [configs/synth.yaml].")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
def synth(out_dir: Path, config_path: str | None, overwrite: bool, stages: str | None,
          block_px: str | None, host: Path | None, shadows: bool, **flags) -> None:
    """Generate a synthetic drone survey of poppy-growing uplands, with ground truth.

    Writes OUT/ortho.tif (tiled, compressed GeoTIFF, nodata outside the flight
    footprint), OUT/plots.geojson (each poppy plot with stage, area, occlusion)
    and OUT/distractors.geojson (look-alike crops, flowers and roofs).
    """
    from poppyscan.config import load_config
    from poppyscan.errors import ConfigError
    from poppyscan.synth import generate_survey

    if stages is not None:
        flags["stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    if host is not None:
        _composite(host, out_dir, flags, shadows=shadows, overwrite=overwrite,
                   other=config_path is not None or block_px is not None)
        return
    if block_px is not None:
        flags["block_px"] = int(block_px)
    config = load_config("synth", config_path, **flags)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"synth config: unknown key(s) {unknown}; valid: {list(CONFIG_KEYS)}")
    if "size_px" in config:
        config["size_px"] = tuple(config["size_px"])
    config.setdefault("seed", 0)
    res = generate_survey(out_dir, overwrite=overwrite, **config)
    w, h = res.size_px
    click.echo(f"{res.ortho_path}: {w} x {h} px at {res.gsd_m:.3f} m, {len(res.plots)} plots, "
               f"{len(res.distractors)} distractors; {w * h / 1e6:.1f} Mpx in "
               f"{res.elapsed_s:.1f} s ({res.mpx_per_s:.1f} Mpx/s)")


def _composite(host: Path, out_dir: Path, flags: dict, *, shadows: bool, overwrite: bool,
               other: bool) -> None:
    """``--onto``: plots sown into a real orthomosaic; the host fixes grid, CRS and mask."""
    from poppyscan.synth.composite import composite_survey

    taken = ("seed", "stages", "plot_density_per_ha")
    given = sorted(k for k, v in flags.items() if v is not None and k not in taken)
    if given or other:
        names = ", ".join("--" + k.replace("_per_ha", "").replace("_m", "").replace("_", "-")
                          for k in given) or "--config/--block-px"
        raise click.UsageError(f"{names}: not with --onto (the host fixes the grid, CRS and mask)")
    options = {k: flags[k] for k in taken if flags.get(k) is not None}
    res = composite_survey(host, out_dir, seed=options.pop("seed", 0), shadows=shadows,
                           overwrite=overwrite, **options)
    click.echo(f"{res.ortho_path}: {len(res.plots)} plots sown into {host.name} "
               f"({res.ground_px_m[0]:.4f} x {res.ground_px_m[1]:.4f} m ground pixels, "
               f"{res.crs.to_string()}); truth in {res.plots_path.name}")
