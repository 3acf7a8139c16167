"""``poppyscan demo``: a synthetic survey, detected with the bundled model, scored against its truth."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.detect import run_detect


@click.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Output folder: survey/ (synthetic orthomosaic + truth) and targets/.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Survey seed.")
@click.option("--size-px", type=(int, int), default=(4096, 4096), show_default=True,
              help="Survey size in pixels (width height) at 5 cm: 4096 px is 205 m.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--model", default=None, type=click.Path(), help="Model bundle [the bundled demo model].")
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo in --out.")
def demo(out_dir, seed, size_px, device, model, overwrite) -> None:
    """Generate a synthetic survey, run detect on it and compare with the ground truth."""
    from poppyscan.synth import generate_survey

    out = Path(out_dir)
    survey_dir = out / "survey"
    click.echo(f"Generating a {size_px[0]} x {size_px[1]} px synthetic survey (seed {seed}) ...")
    survey = generate_survey(survey_dir, seed=seed, size_px=tuple(size_px), gsd_m=0.05,
                             overwrite=True)
    run = run_detect([str(survey.ortho_path)], out / "targets", model=model, device=device,
                     batch_size=8, workers=4, mission=f"DEMO{seed}", merge=None, overwrite=overwrite)
    found, total, big_found, big_total = _score(run.result.clusters, survey.plots)
    click.echo(f"Ground truth: {found} of {total} synthetic plots hit by a target "
               f"({big_found} of {big_total} plots of 20 m2 or more); "
               f"{len(run.targets)} targets in all. Open {out / 'targets' / 'report.html'}")


def _score(clusters, plots) -> tuple[int, int, int, int]:
    """Plots touched by at least one target (both in the survey's CRS)."""
    hit = [any(c.polygon.intersects(p["geometry"]) for c in clusters) for p in plots]
    big = [p["area_m2"] >= 20 for p in plots]
    return sum(hit), len(plots), sum(h for h, b in zip(hit, big, strict=True) if b), sum(big)
