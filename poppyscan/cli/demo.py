"""``poppyscan demo``: a synthetic survey, detected with the bundled model, scored against its truth."""

from __future__ import annotations

import click

from poppyscan.cli.detect import echo_run
from poppyscan.cli.options import ProgressBar, plural


@click.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Output folder: survey/ (synthetic orthomosaic + truth) and targets/.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Survey seed.")
@click.option("--size-px", type=(int, int), default=(4096, 4096), show_default=True,
              help="Survey size in pixels (width height) at 5 cm: 4096 px is 205 m.")
@click.option("--device", default=None, help="cpu, cuda or auto [configs/detect.yaml: auto].")
@click.option("--model", default=None, type=click.Path(), help="Model bundle [the bundled demo model].")
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo in --out.")
def demo(out_dir, seed, size_px, device, model, overwrite) -> None:
    """Generate a synthetic survey, run detect on it and compare with the ground truth."""
    import poppyscan.api as ps

    click.echo(f"Generating a {size_px[0]} x {size_px[1]} px synthetic survey (seed {seed}) ...")
    with ProgressBar("detect") as progress:
        result = ps.demo(out_dir, seed=seed, size_px=tuple(size_px), model=model, device=device,
                         overwrite=overwrite, progress=progress)
    echo_run(result.run)
    click.echo(f"Ground truth: {result.plots_hit} of {result.plots} synthetic plots hit by a target "
               f"({result.large_plots_hit} of {result.large_plots} plots of 20 m2 or more); "
               f"{plural(len(result.run.targets), 'target')} in all. Open {result.run.paths['report']}")
