"""Options and helpers shared by several commands."""

from __future__ import annotations

import click

from poppyscan.tiles.errors import ConfigError

__all__ = ["grid_options", "inference_options", "default_of", "parse_bands", "Progress"]


def default_of(config: str, key: str) -> str:
    """A built-in default for help texts, e.g. ``[configs/tiling.yaml: 640]``."""
    from poppyscan.config import defaults

    value = defaults(config)[key]
    shown = "none" if value is None else ",".join(map(str, value)) if isinstance(value, list) else value
    return f"[configs/{config}.yaml: {shown}]"


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
        click.option("--gsd", "gsd_m", metavar="METRES|native", default=None, callback=_gsd,
                     help="Ground sample distance of chips in metres, (0, 100], or 'native' "
                          f"for the source resolution {default_of('tiling', 'gsd_m')}."),
        click.option("--tile-px", type=click.IntRange(16, 8192), default=None,
                     help=f"Chip side in pixels, 16-8192 {default_of('tiling', 'tile_px')}."),
        click.option("--overlap-px", type=click.IntRange(0, 8191), default=None,
                     help="Overlap between neighbouring chips in pixels, 0 to tile-px - 1 "
                          f"{default_of('tiling', 'overlap_px')}."),
        click.option("--min-valid", "min_valid_frac", type=click.FloatRange(0, 1), default=None,
                     help="Least fraction of valid (non-collar) pixels a chip needs, 0-1 "
                          f"{default_of('tiling', 'min_valid_frac')}."),
        click.option("--bands", default=None, metavar="R,G,B", callback=_bands,
                     help="Three 1-based bands to read as RGB [RGB(A) as is; grey repeated]."),
        click.option("--workers", type=click.IntRange(1, 64), default=None,
                     help=f"Reader threads, 1-64 {default_of('tiling', 'workers')}."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _bands(ctx, param, value):
    return parse_bands(value)


def _gsd(ctx, param, value):
    """Checked here so the message names the flag; passed on as given ("native" stays a word)."""
    from poppyscan.tiles.grid import parse_gsd_m

    if value is not None:
        try:
            parse_gsd_m(value)
        except ConfigError as err:
            raise click.BadParameter(str(err).removeprefix("gsd "), param_hint="--gsd") from None
    return value


def inference_options(func):
    """``--device``, ``--batch-size``, ``--workers``: how detection runs (never what it finds)."""
    options = [
        click.option("--device", default=None,
                     help="cpu, cuda, cuda:N, or auto (CUDA when present, in half precision) "
                          f"{default_of('detect', 'device')}."),
        click.option("--batch-size", type=click.IntRange(1, 1024), default=None,
                     help=f"Chips per forward pass, 1-1024 {default_of('detect', 'batch_size')}."),
        click.option("--workers", type=click.IntRange(1, 64), default=None,
                     help=f"Reader threads, 1-64 {default_of('detect', 'workers')}."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class Progress:
    """A rich progress bar on stderr with rate and ETA, for :mod:`poppyscan.api`'s ``progress``.

    Opens at ``start(total)``, so errors raised before the work starts print alone.
    """

    def __init__(self, description: str, *, unit: str = "chips") -> None:
        self.description, self.unit = description, unit
        self._bar = self._task = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        columns = [
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(),
        ]
        self._bar = Bar(*columns, console=Console(stderr=True), transient=False)
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=total, rate="")

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Add ``n`` done; ``note`` replaces the rate column (e.g. a validation score)."""
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        speed = self._bar.tasks[self._task].speed
        if note is not None:
            self._bar.update(self._task, rate=note)
        elif speed:
            self._bar.update(self._task, rate=f"{speed:,.1f} {self.unit}/s")
