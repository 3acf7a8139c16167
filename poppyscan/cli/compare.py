"""``poppyscan compare``: two or more models on the same labelled flights, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import inference_options


@click.command("compare")
@click.option("--model", "models", multiple=True, required=True, type=click.Path(exists=True),
              help="Model bundle folder; give two or more (e.g. the model in use and a retrain).")
@click.option("--ortho", "orthos", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Whole orthomosaic to run detection on; repeat for several.")
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(exists=True),
              help="Ground-truth plots (vector file or any label format); repeat for several.")
@inference_options
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write the comparison as JSON to this file [table on the terminal only].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML file of settings, keys as in configs/detect.yaml.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def compare(models, orthos, labels, device, backend, batch_size, workers, out_path, config_path,
            overwrite) -> None:
    """Run each --model once on the --ortho files; one table: precision, recall, F1 at IoU 0.4
    and 0.5 and false targets per km2, each model at its card's conf and merge rule."""
    import poppyscan.api as ps
    from poppyscan.errors import ConfigError

    if out_path is not None and Path(out_path).exists() and not overwrite:
        raise ConfigError(f"{out_path}: already exists; pass --overwrite to replace it")
    table = ps.compare(orthos, labels, models, device=device, backend=backend, batch_size=batch_size,
                       workers=workers, config=config_path)
    table.to_json(out_path)
    click.echo(table.table_text(), nl=False)
    if out_path is not None:
        click.echo(f"Comparison: {out_path}")
