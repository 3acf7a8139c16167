"""``poppyscan evaluate``: score a model bundle on labelled orthomosaics, plot by plot."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import default_of, inference_options

# Kept in step with train.tuning.PICK_RULES; repeated so `--help` imports nothing heavy.
PICK_RULES = ("best-f1", "recall-floor")


def _parse_sweep(value: str | None) -> tuple[float, ...] | None:
    from poppyscan.errors import ConfigError

    if value is None:
        return None
    if value.strip().lower() in ("", "none"):
        return ()
    try:
        confs = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"--sweep {value!r}: expected thresholds like 0.1,0.2,0.3 or 'none'") from None
    if not all(0 < c < 1 for c in confs):
        raise ConfigError(f"--sweep {value!r}: every threshold must be in (0, 1)")
    return confs


def _merge(ctx, param, value):
    """``RULE`` or ``CLASS=RULE,...``, checked here so the message names the flag."""
    from poppyscan.detect.merge import parse_merge_rule
    from poppyscan.errors import ConfigError

    if value is None:
        return None
    try:
        return parse_merge_rule(value)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--merge") from None


def _refuse_existing(path: str | None, overwrite: bool, what: str) -> None:
    from poppyscan.errors import ConfigError

    if path is not None and Path(path).exists() and not overwrite:
        raise ConfigError(f"{path}: already holds {what}; pass --overwrite to replace it")


@click.command("evaluate")
@click.option("--model", default=None, type=click.Path(exists=True),
              help="Model bundle folder (card.yaml + weights) [the bundled demo model].")
@click.option("--ortho", "orthos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Whole orthomosaic to run detection on; repeat for several.")
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(exists=True),
              help="Ground-truth plots (vector file with optional 'stage' and 'label' (class) "
                   "fields, or any label format); repeat for several.")
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Dataset folder from `poppyscan dataset build`: adds mAP on its test chips "
                   "[none].")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold for the headline scores, (0, 1) [the model card's].")
@click.option("--merge", default=None, metavar="RULE|CLASS=RULE,...", callback=_merge,
              help="Merge rule: union, nms, contain, core or cluster (no chaining: countable "
                   "objects), or one per class [the model card's].")
@click.option("--match-iou", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="A target matches a plot, one to one, at this IoU or more, (0, 1] "
                   f"{default_of('evaluate', 'match_iou')}.")
@click.option("--sweep", default=None, metavar="CONF,...|none",
              help="Thresholds for the precision/recall table, each in (0, 1) "
                   "[configs/evaluate.yaml: 0.05 to 0.8].")
@inference_options
@click.option("--min-area", "min_area_m2", type=click.FloatRange(0), default=None,
              help="Plots of at least this many m2 also get their own recall and precision, and "
                   "--pick scores them alone (0: all plots) [the card's headline_min_area_m2, else 0].")
@click.option("--pick", type=click.Choice(PICK_RULES), default=None,
              help="Pick conf and merge rule on these flights by this rule and write a new "
                   "bundle to --out-model: best-f1, or recall-floor (the most precise pair whose "
                   "recall reaches --recall-floor) [no picking].")
@click.option("--recall-floor", type=click.FloatRange(0, 1), default=None,
              help=f"Recall that --pick recall-floor must reach, 0-1 {default_of('evaluate', 'recall_floor')}.")
@click.option("--out-model", default=None, type=click.Path(file_okay=False),
              help="Folder of the new bundle --pick writes (weights + card with a new model id).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write the JSON report to this file [summary on the terminal only].")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the summary.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of settings, keys as in configs/evaluate.yaml and configs/detect.yaml.")
@click.option("--overwrite", is_flag=True, help="Replace --out and --out-model if they exist.")
def evaluate(model, orthos, labels, data_dir, conf, merge, match_iou, sweep, device, backend, batch_size,
             workers, min_area_m2, pick, recall_floor, out_model, out_path, as_json, config_path,
             overwrite) -> None:
    """Run detection on whole --ortho files and score targets against --labels plots.

    Targets match plots one to one by IoU (COCO's greedy rule); plots found by the
    centroid/overlap rule are reported apart. Also: false targets per km2, recall by
    plot size and stage, per-class scores, a threshold sweep and (with --data) mAP on
    the test chips. With --pick: choose conf and merge rule here and write a new bundle.
    """
    import poppyscan.api as ps
    from poppyscan.errors import ConfigError

    _refuse_existing(out_path, overwrite, "a file")
    scoring = {"match_iou": match_iou, "min_area_m2": min_area_m2}
    if pick is None:
        if out_model is not None or recall_floor is not None:
            raise ConfigError("--out-model and --recall-floor go with --pick")
        report = ps.evaluate(orthos, labels, model=model, device=device, backend=backend, conf=conf, merge=merge,
                             data_dir=data_dir, batch_size=batch_size, workers=workers,
                             config=config_path, sweep=_parse_sweep(sweep), **scoring)
    else:
        if out_model is None:
            raise ConfigError("--pick writes a new bundle: give its folder with --out-model")
        if conf is not None or merge is not None or data_dir is not None:
            raise ConfigError("--pick chooses conf and merge itself; drop --conf, --merge and --data")
        report = _calibrate(orthos, labels, out_model, model=model, device=device, backend=backend,
                            batch_size=batch_size, workers=workers, config=config_path,
                            overwrite=overwrite, pick=pick, recall_floor=recall_floor, **scoring)
    text = report.to_json(out_path)
    click.echo(text if as_json else report.summary_text(), nl=False)
    if out_path is not None and not as_json:
        click.echo(f"Report: {out_path}")


def _calibrate(orthos, labels, out_model, **options):
    import poppyscan.api as ps
    from poppyscan.train.report import sweep_table

    found = ps.calibrate(orthos, labels, out_model, **options)
    picked, how = found.picked, found.bundle.card["calibration"]["by"]
    area = f"plots of {picked.min_area_m2:g} m2 or more" if picked.min_area_m2 else "all plots"
    for rule, rows in found.sweeps.items():
        click.echo(f"merge={rule} ({area} in the last columns)" if picked.min_area_m2 else
                   f"merge={rule}", err=True)
        click.echo(sweep_table(rows, picked.min_area_m2 or None), nl=False, err=True)
    click.echo(f"Picked by {how['rule']}"
               + (f" (recall floor {how['recall_floor']:g})" if "recall_floor" in how else "")
               + f" on {area}: conf {picked.conf:g}, merge {picked.merge_rule} -> "
               f"{found.bundle.model_id} in {out_model}", err=True)
    click.echo("Scores below are on the flights the pick was made on: optimistic; evaluate the "
               "new bundle on other flights.", err=True)
    return found.report
