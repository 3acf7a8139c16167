"""``poppyscan train``: train a model bundle on a dataset from ``poppyscan dataset build``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from poppyscan.cli.options import progress

DEFAULT_CONFIG = "train/demo"  # configs/train/demo.yaml


@click.command("train")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Dataset folder built by `poppyscan dataset build`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Model bundle folder: card.yaml, weights.pt, and run/ (curves, checkpoints).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Training config YAML [configs/train/demo.yaml].")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=None,
              help="Training epochs, 1-10000 [config: 60].")
@click.option("--batch", type=click.IntRange(1, 4096), default=None,
              help="Chips per training batch, 1-4096 [config: 32].")
@click.option("--device", default=None,
              help="cpu, cuda, cuda:N or auto (CUDA when present) [config: auto].")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Data loader processes, 0-64 [config: 4].")
@click.option("--from-model", "from_model", type=click.Path(exists=True), default=None,
              help="Fine-tune from this model bundle folder (or a local .pt) instead of "
                   "training from scratch, e.g. detect/models/poppy-demo [config: architecture].")
@click.option("--seed", type=click.IntRange(0), default=None, help="Training seed, >= 0 [config: 0].")
@click.option("--name", default=None, help="Model name; the model id adds a hash [config's name].")
@click.option("--conf", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold written to the card, (0, 1) [config: 0.25].")
@click.option("--resume/--no-resume", default=None,
              help="Pick up the run in --out/run: continue it if interrupted, bundle it again "
                   "if finished; --no-resume trains afresh [config: resume].")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing bundle in --out (with --resume and a finished run: "
                   "re-bundle it, e.g. with a new --conf, without training).")
def train(data_dir, out_dir, config_path, epochs, batch, device, workers, from_model, seed, name,
          conf, resume, overwrite) -> None:
    """Train a YOLO detector on --data offline (CPU or GPU) and write a model bundle."""
    from poppyscan.config import load_config
    from poppyscan.train.training import train_model

    config = load_config(DEFAULT_CONFIG, config_path, epochs=epochs, batch=batch, device=device,
                         workers=workers, seed=seed, conf=conf, resume=resume)
    if name is not None:  # `name` is load_config's own first parameter
        config["name"] = name
    if from_model is not None:
        config["architecture"] = _start_weights(Path(from_model), Path(out_dir))
    with contextlib.ExitStack() as stack:
        bundle = train_model(data_dir, out_dir, config=config, overwrite=overwrite,
                             on_epoch=_EpochBar(stack))
    metrics = bundle.card.get("metrics", {})
    scores = "  ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    click.echo(f"Model {bundle.model_id} -> {Path(out_dir)}")
    click.echo(f"  validation: {scores}")
    click.echo(f"  grid: {bundle.grid.tile_px} px chips at {bundle.grid.gsd_m:g} m, overlap "
               f"{bundle.grid.overlap_px} px; conf {bundle.conf:g}")
    if bundle.card.get("notice"):
        click.echo(f"  notice: {bundle.card['notice']}")


class _EpochBar:
    """Progress over epochs with the last validation mAP50; opens at the first epoch, so
    errors raised before training print alone."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack, self.advance, self.done = stack, None, 0

    def __call__(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        if self.advance is None:
            self.advance = self.stack.enter_context(progress("train", epochs, unit="epochs"))
        epoch = min(epoch, epochs)  # Ultralytics may report the last epoch twice
        if epoch > self.done:
            note = f"val mAP50 {metrics.get('mAP50', float('nan')):.3f}"
            self.advance(epoch - self.done, note=note)
            self.done = epoch


def _start_weights(path: Path, out_dir: Path) -> str:
    """A bundle folder's weights file, or a .pt as given; never one the new bundle replaces."""
    from poppyscan.tiles.errors import ConfigError

    if path.is_dir():
        from poppyscan.detect.bundle import load_bundle

        path = load_bundle(path).weights_path
    if path.resolve().is_relative_to(out_dir.resolve()):
        raise ConfigError(f"--from-model {path}: lies in --out {out_dir}, which training replaces; "
                          "copy the model elsewhere first or pick another --out")
    return str(path)
