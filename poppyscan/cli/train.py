"""``poppyscan train``: train a model bundle on a dataset from ``poppyscan dataset build``."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import ProgressBar, default_of


def _default(key: str) -> str:
    return default_of("train/default", key)


@click.command("train")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Dataset folder built by `poppyscan dataset build`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Model bundle folder: card.yaml, weights.pt, and run/ (curves, checkpoints).")
@click.option("--config", "config_path", default=None, metavar="FILE|PRESET",
              help="Training config YAML (keys as in configs/train/default.yaml), or a built-in "
                   "preset: demo (the bundled model's recipe) or tiny (a smoke test).")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=None,
              help=f"Training epochs, 1-10000 {_default('epochs')}.")
@click.option("--batch", type=click.IntRange(1, 4096), default=None,
              help=f"Chips per training batch, 1-4096 {_default('batch')}.")
@click.option("--device", default=None,
              help=f"cpu, cuda, cuda:N or auto (CUDA when present) {_default('device')}.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help=f"Data loader processes, 0-64 {_default('workers')}.")
@click.option("--from-model", "from_model", type=click.Path(exists=True), default=None,
              help="Fine-tune from this model bundle folder (or a local .pt) instead of "
                   "training from scratch, e.g. the bundled model's folder [config: architecture].")
@click.option("--from-scratch", "from_scratch", is_flag=True,
              help="Train YOLO11n from random weights instead of the bundled pretrained "
                   "YOLOv8n start [config: architecture, default start].")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="torch compute threads, 1-1024 [config: threads; default every core].")
@click.option("--seed", type=click.IntRange(0), default=None,
              help=f"Training seed, >= 0 {_default('seed')}.")
@click.option("--name", default=None,
              help="Model name; the model id adds a hash [config's name, else the dataset folder's].")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help=f"Detection threshold written to the card, (0, 1) {_default('conf')}.")
@click.option("--resume/--no-resume", default=None,
              help="Pick up the run in --out/run: continue it if interrupted, bundle it again "
                   f"if finished; --no-resume trains afresh {_default('resume')}.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing bundle in --out (with --resume and a finished run: "
                   "re-bundle it, e.g. with a new --conf, without training).")
def train(data_dir, out_dir, config_path, from_model, from_scratch, overwrite, **settings) -> None:
    """Train a YOLO detector on --data offline (CPU or GPU) and write a model bundle."""
    import poppyscan.api as ps

    with ProgressBar("train", unit="epochs") as progress:
        bundle = ps.train(data_dir, out_dir, from_model=from_model, from_scratch=from_scratch,
                          config=config_path, overwrite=overwrite, progress=progress, **settings)
    metrics = bundle.card.get("metrics", {})
    scores = "  ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    click.echo(f"Model {bundle.model_id} -> {Path(out_dir)}")
    click.echo(f"  validation: {scores}")
    click.echo(f"  grid: {bundle.grid.tile_px} px chips at {bundle.grid.gsd_m:g} m, overlap "
               f"{bundle.grid.overlap_px} px; conf {bundle.conf:g}")
    if bundle.card.get("notice"):
        click.echo(f"  notice: {bundle.card['notice']}")
