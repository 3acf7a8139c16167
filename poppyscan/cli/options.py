"""Options and helpers shared by several commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from poppyscan.tiles.errors import ConfigError

__all__ = ["grid_options", "inference_options", "parse_gsd", "parse_bands", "check_out_dir", "progress"]


def parse_gsd(value: str | float | None) -> float | None | str:
    """``"native"`` -> None (source resolution); a number -> metres; None -> unset."""
    if value is None:
        return "unset"
    if isinstance(value, str) and value.strip().lower() == "native":
        return None
    try:
        gsd_m = float(value)
    except ValueError:
        raise ConfigError(f"--gsd {value!r}: expected metres (e.g. 0.05) or 'native'") from None
    if not 0 < gsd_m <= 100:
        raise ConfigError(f"--gsd {value!r}: must be in (0, 100] metres")
    return gsd_m


def parse_bands(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        bands = [int(b) for b in value.split(",")]
    except ValueError:
        raise ConfigError(f"--bands {value!r}: expected three band numbers like 1,2,3") from None
    if len(bands) != 3:
        raise ConfigError(f"--bands {value!r}: expected exactly three band numbers")
    return bands


def grid_options(func):
    """``--gsd``, ``--tile-px``, ``--overlap-px``, ``--min-valid``, ``--bands``, ``--workers``."""
    options = [
        click.option("--gsd", "gsd", metavar="METRES|native", default=None,
                     help="Ground sample distance of chips in metres, (0, 100], or 'native' "
                          "for the source resolution [configs/tiling.yaml: 0.05]."),
        click.option("--tile-px", type=click.IntRange(16, 8192), default=None,
                     help="Chip side in pixels, 16-8192 [640]."),
        click.option("--overlap-px", type=click.IntRange(0, 8191), default=None,
                     help="Overlap between neighbouring chips in pixels, 0 to tile-px - 1 [128]."),
        click.option("--min-valid", "min_valid_frac", type=click.FloatRange(0, 1), default=None,
                     help="Least fraction of valid (non-collar) pixels a chip needs, 0-1 [0.05]."),
        click.option("--bands", default=None, metavar="R,G,B",
                     help="Three 1-based bands to read as RGB [RGB(A) as is; grey repeated]."),
        click.option("--workers", type=click.IntRange(1, 64), default=None,
                     help="Reader threads, 1-64 [4]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def inference_options(func):
    """``--device``, ``--batch-size``, ``--workers``: how detection runs (never what it finds)."""
    options = [
        click.option("--device", default="auto", show_default=True,
                     help="cpu, cuda, cuda:N, or auto (CUDA when present, in half precision)."),
        click.option("--batch-size", type=click.IntRange(1, 1024), default=8, show_default=True,
                     help="Chips per forward pass, 1-1024."),
        click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
                     help="Reader threads, 1-64."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_out_dir(out_dir: Path, outputs: list[str], overwrite: bool) -> None:
    """Refuse to replace existing outputs unless ``--overwrite`` was given."""
    existing = [name for name in outputs if (out_dir / name).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{out_dir}: already holds {', '.join(existing)}; pass --overwrite to replace"
        )


@contextlib.contextmanager
def progress(description: str, total: int | None, *, unit: str = "chips") -> Iterator:
    """A rich progress bar with rate and ETA, on stderr; yields ``advance(n=1, note=None)``.

    ``note`` replaces the rate column, e.g. with the last epoch's validation score.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    bar = Progress(*columns, console=Console(stderr=True), transient=False)
    with bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int = 1, note: str | None = None) -> None:
            bar.advance(task, n)
            speed = bar.tasks[task].speed
            if note is not None:
                bar.update(task, rate=note)
            elif speed:
                bar.update(task, rate=f"{speed:,.1f} {unit}/s")

        yield advance
