"""``poppyscan detect``: orthomosaics in, field targets out."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import check_out_dir, inference_options, progress


def run_detect(orthos, out, *, model, device, batch_size, workers, mission, merge, overwrite):
    """Shared by ``detect`` and ``demo``: load the bundle, run, print a summary."""
    from poppyscan.detect.bundle import load_bundle
    from poppyscan.detect.predictor import YoloPredictor
    from poppyscan.detect.run import OUTPUTS, detect_to_dir
    from poppyscan.tiles import inspect_raster, plan_chips

    out = Path(out)
    check_out_dir(out, list(OUTPUTS), overwrite)
    bundle = load_bundle(model)
    infos = [inspect_raster(path) for path in orthos]  # fail fast on bad input
    predictor = YoloPredictor(str(bundle.weights_path), conf=bundle.conf,
                              iou=float(bundle.thresholds.get("iou_nms", 0.5)), device=device)
    total = sum(len(plan_chips(info, bundle.grid)[0]) for info in infos)
    with progress(f"detect ({predictor.device})", total) as advance:
        run = detect_to_dir(infos, out, bundle=bundle, predictor=predictor,
                            mission=mission, batch_size=batch_size, workers=workers, merge=merge,
                            on_chips=advance, settings={"device": predictor.device})
    stats = run.result.stats
    wall = run.result.timings_s["total"]
    click.echo(f"{len(run.targets)} targets from {stats.yielded} chips ({stats.skipped_collar} collar "
               f"chips skipped) in {wall:.1f} s, {stats.read / max(wall, 1e-9):.1f} chips/s")
    for key in ("targets_geojson", "gpkg", "gpx", "kml", "report", "run"):
        if key in run.paths:
            click.echo(f"  {run.paths[key]}")
    return run


@click.command()
@click.argument("orthos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder for targets.geojson, targets.gpkg, .gpx, .kml, report.html, run.json.")
@click.option("--model", default=None, type=click.Path(),
              help="Model bundle folder (card.yaml + weights) [the bundled demo model].")
@inference_options
@click.option("--mission", default=None, help="Mission name used in target ids [first file's name].")
@click.option("--merge", type=click.Choice(["union", "nms", "contain", "core"]), default=None,
              help="Rule merging detections across chips and files [the model card's: union].")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
def detect(orthos, out, model, device, batch_size, workers, mission, merge, overwrite) -> None:
    """Find suspected poppy plots in ORTHO... and write one target per plot."""
    run_detect(orthos, out, model=model, device=device, batch_size=batch_size, workers=workers,
               mission=mission, merge=merge, overwrite=overwrite)
