"""``poppyscan detect``: orthomosaics in, field targets out."""

from __future__ import annotations

import click

from poppyscan.cli.options import ProgressBar, default_of, inference_options, plural
from poppyscan.detect.merge import MERGE_RULES, parse_merge_rule
from poppyscan.detect.runtime import ENGINES, PRECISIONS


def _merge_rule(ctx, param, value):
    from poppyscan.errors import ConfigError

    try:
        return None if value is None else parse_merge_rule(value)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--merge") from None


def echo_run(run) -> None:
    """One summary line and the paths of the outputs a user opens."""
    stats, wall = run.result.stats, run.result.timings_s["total"]
    # Chips read, as the progress bar counts them; then how many the model saw.
    click.echo(f"{plural(len(run.targets), 'target')} in {plural(stats.read, 'chip')} read "
               f"({stats.yielded:,d} searched, {stats.skipped_collar:,d} mostly collar) in "
               f"{wall:.1f} s, {stats.read / max(wall, 1e-9):.1f} chips/s")
    for left_out in run.skipped:
        click.echo(f"  skipped {left_out['path']}: {left_out['reason']}")
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
@click.option("--precision", default=None, type=click.Choice(PRECISIONS),
              help="Arithmetic of the OpenVINO backend: auto runs the precision the model card "
                   f"says was checked on held-out data, else f32 {default_of('detect', 'precision')}.")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold, (0, 1) [the model card's].")
@click.option("--merge", default=None, metavar="RULE|CLASS=RULE,...", callback=_merge_rule,
              help=f"Rule merging detections across chips and files, one of {', '.join(MERGE_RULES)}, "
                   "or one per class [the model card's].")
@click.option("--mission", default=None,
              help="Mission name used in target ids [the inputs' folder; one file: its name].")
@click.option("--max-gsd-ratio", type=click.FloatRange(1, min_open=False), default=None,
              help="Refuse orthomosaics more than this many times coarser than the model's GSD "
                   f"{default_of('detect', 'max_gsd_ratio')}.")
@click.option("--skip-unusable", is_flag=True,
              help="Run the usable inputs and list the others, with why, in run.json and the "
                   "report (default: refuse the run, naming every unusable file).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of run settings, keys as in configs/detect.yaml.")
@click.option("--registry", "registry_path", default=None, type=click.Path(dir_okay=False),
              help="Mission registry (GeoPackage, created when missing) to record the run in: "
                   "repeat flights join known targets instead of adding new ones.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--engine", type=click.Choice(ENGINES), default="local",
              help="Where chip blocks run: this process, or Ray actors on the cluster in "
                   "RAY_ADDRESS (a local one if unset; needs pip install 'poppyscan[ray]') "
                   "[local].")
def detect(orthos, out, model, device, backend, precision, batch_size, workers, conf, merge, mission, config_path,
           registry_path, overwrite, engine, max_gsd_ratio, skip_unusable) -> None:
    """Find suspected plots in ORTHOS (GeoTIFFs, or folders of them) and write one target per plot.

    A folder gives its GeoTIFFs, or its OpenDroneMap projects'
    odm_orthophoto/odm_orthophoto.tif. The run is journalled in --out: after a
    kill or Ctrl-C, the same command resumes where it stopped.
    """
    import poppyscan.api as ps

    with ProgressBar("detect") as progress:
        run = ps.detect(orthos, out, model=model, device=device, backend=backend, precision=precision, conf=conf, merge=merge,
                        mission=mission, batch_size=batch_size, workers=workers,
                        config=config_path, overwrite=overwrite, registry=registry_path,
                        progress=progress, engine=engine, max_gsd_ratio=max_gsd_ratio,
                        skip_unusable=skip_unusable)
    echo_run(run)
    if run.recorded is not None:
        from poppyscan.cli.registry import echo_recorded

        echo_recorded(out, run.recorded)
