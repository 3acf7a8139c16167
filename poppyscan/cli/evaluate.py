"""``poppyscan evaluate``: score a model bundle on labelled orthomosaics, plot by plot."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import inference_options

DEFAULT_SWEEP = "0.05,0.1,0.15,0.2,0.25,0.3,0.4,0.5,0.6,0.7,0.8"


def _parse_sweep(value: str) -> tuple[float, ...]:
    from poppyscan.tiles.errors import ConfigError

    if value.strip().lower() in ("", "none"):
        return ()
    try:
        confs = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"--sweep {value!r}: expected thresholds like 0.1,0.2,0.3 or 'none'") from None
    if not all(0 < c < 1 for c in confs):
        raise ConfigError(f"--sweep {value!r}: every threshold must be in (0, 1)")
    return confs


@click.command("evaluate")
@click.option("--model", default=None, type=click.Path(exists=True),
              help="Model bundle folder (card.yaml + weights) [the bundled demo model].")
@click.option("--ortho", "orthos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Whole orthomosaic to run detection on; repeat for several.")
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(exists=True),
              help="Ground-truth plots (vector file with an optional 'stage' field, or any label "
                   "format); repeat for several.")
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Dataset folder from `poppyscan dataset build`: adds mAP on its test chips "
                   "[none].")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold for the headline scores, (0, 1) [the model card's].")
@click.option("--match-iou", type=click.FloatRange(0, 1, min_open=True), default=0.1,
              show_default=True,
              help="A target finds a plot at this IoU, (0, 1], or with its centroid in the plot.")
@click.option("--sweep", default=DEFAULT_SWEEP, show_default=True, metavar="CONF,...|none",
              help="Thresholds for the precision/recall table, each in (0, 1).")
@inference_options
@click.option("--min-area", "min_area_m2", type=click.FloatRange(0), default=20.0, show_default=True,
              help="Plots of at least this many m2 also get their own recall and precision "
                   "(0: none).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write the JSON report to this file [summary on the terminal only].")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the summary.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def evaluate(model, orthos, labels, data_dir, conf, match_iou, sweep, device, batch_size, workers,
             min_area_m2, out_path, as_json, overwrite) -> None:
    """Run detection on whole --ortho files and score targets against --labels plots.

    Reports plot-level recall and precision, false targets per km2, recall by plot
    size and stage, a threshold sweep and (with --data) mAP on the test chips.
    """
    import poppyscan.api as ps
    from poppyscan.tiles.errors import ConfigError

    if out_path is not None and Path(out_path).exists() and not overwrite:
        raise ConfigError(f"{out_path}: already exists; pass --overwrite to replace it")
    report = ps.evaluate(orthos, labels, model=model, device=device, conf=conf, data_dir=data_dir,
                         batch_size=batch_size, workers=workers, match_iou=match_iou,
                         sweep=_parse_sweep(sweep), min_area_m2=min_area_m2)
    text = report.to_json(out_path)
    click.echo(text if as_json else report.summary_text(), nl=False)
    if out_path is not None and not as_json:
        click.echo(f"Report: {out_path}")
