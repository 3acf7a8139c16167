"""``poppyscan detect``: orthomosaics in, field targets out."""

from __future__ import annotations

import click

from poppyscan.cli.options import Progress, default_of, inference_options
from poppyscan.detect.merge import MERGE_RULES, parse_merge_rule


def _merge_rule(ctx, param, value):
    from poppyscan.errors import ConfigError

    try:
        return None if value is None else parse_merge_rule(value)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--merge") from None


def echo_run(run) -> None:
    """One summary line and the paths of the outputs a user opens."""
    stats, wall = run.result.stats, run.result.timings_s["total"]
    click.echo(f"{len(run.targets)} targets from {stats.yielded} chips ({stats.skipped_collar} collar "
               f"chips skipped) in {wall:.1f} s, {stats.read / max(wall, 1e-9):.1f} chips/s")
    ran = run.settings
    if "backend" in ran:  # what ran, and why when it is slower than this machine could run
        click.echo(f"  ran on {ran['backend']} {ran['precision']} ({ran['device']})"
                   + (f"; {ran['fallback']}" if ran.get("fallback") else ""))
    if run.result.blocks_resumed:
        click.echo(f"  resumed: {run.result.blocks_resumed} chip blocks came from the journal")
    for key in ("targets_geojson", "gpkg", "gpx", "kml", "report", "run"):
        if key in run.paths:
            click.echo(f"  {run.paths[key]}")


@click.command()
@click.argument("orthos", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder for targets.geojson, targets.gpkg, .gpx, .kml, report.html, run.json.")
@click.option("--model", default=None, type=click.Path(),
              help="Model bundle folder (card.yaml + weights) [the bundled demo model].")
@inference_options
@click.option("--precision", default=None, type=click.Choice(["auto", "f32", "bf16"]),
              help="Arithmetic of the OpenVINO backend: auto runs the precision the model card "
                   f"says was checked on held-out data, else f32 {default_of('detect', 'precision')}.")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold, (0, 1) [the model card's].")
@click.option("--merge", default=None, metavar="RULE|CLASS=RULE,...", callback=_merge_rule,
              help=f"Rule merging detections across chips and files, one of {', '.join(MERGE_RULES)}, "
                   "or one per class [the model card's].")
@click.option("--mission", default=None, help="Mission name used in target ids [first file's name].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of run settings, keys as in configs/detect.yaml.")
@click.option("--registry", "registry_path", default=None, type=click.Path(dir_okay=False),
              help="Mission registry (GeoPackage, created when missing) to record the run in: "
                   "repeat flights join known targets instead of adding new ones.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              help="Where chip blocks run: this process, or Ray actors on the cluster in "
                   "RAY_ADDRESS (a local one if unset; needs pip install 'poppyscan[ray]') "
                   "[local].")
def detect(orthos, out, model, device, backend, precision, batch_size, workers, conf, merge, mission, config_path,
           registry_path, overwrite, engine) -> None:
    """Find suspected plots in ORTHOS (GeoTIFFs, or folders of them) and write one target per plot.

    A folder gives its GeoTIFFs, or its OpenDroneMap projects'
    odm_orthophoto/odm_orthophoto.tif. The run is journalled in --out: after a
    kill or Ctrl-C, the same command resumes where it stopped.
    """
    import poppyscan.api as ps

    with Progress("detect") as progress:
        run = ps.detect(orthos, out, model=model, device=device, backend=backend, precision=precision, conf=conf, merge=merge,
                        mission=mission, batch_size=batch_size, workers=workers,
                        config=config_path, overwrite=overwrite, registry=registry_path,
                        progress=progress, engine=engine)
    echo_run(run)
    if run.recorded is not None:
        from poppyscan.cli.registry import echo_recorded

        echo_recorded(out, run.recorded)
