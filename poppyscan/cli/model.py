"""``poppyscan model``: inspect model bundles."""

from __future__ import annotations

import json

import click


@click.group()
def model() -> None:
    """Inspect model bundles."""


@model.command()
@click.option("--model", "path", default=None, type=click.Path(),
              help="Model bundle folder [the bundled demo model].")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def info(path, as_json) -> None:
    """Print a bundle's model card and weights path."""
    from poppyscan.detect.bundle import load_bundle

    bundle = load_bundle(path)
    card = {**bundle.card, "weights_path": str(bundle.weights_path)}
    if as_json:
        click.echo(json.dumps(card, indent=2, default=str))
        return
    click.echo(f"{card['name']}  ({card['model_id']})")
    click.echo(f"  weights: {bundle.weights_path}")
    click.echo(f"  classes: {', '.join(bundle.classes)}   architecture: {card['architecture']}")
    click.echo(f"  grid: {bundle.grid.gsd_m} m/px, {bundle.grid.tile_px} px chips, "
               f"{bundle.grid.overlap_px} px overlap")
    click.echo(f"  thresholds: {card['thresholds']}")
    for key in ("metrics", "training", "notice"):
        if key in card:
            click.echo(f"  {key}:")
            click.echo(_block(card[key]), nl=False)


def _block(value) -> str:
    """A card section as indented YAML, lines wrapped near 100 characters (not one long line)."""
    import textwrap

    import yaml

    text = yaml.safe_dump(value, width=92, sort_keys=False, default_flow_style=False,
                          allow_unicode=True)
    return textwrap.indent(text, "    ")
