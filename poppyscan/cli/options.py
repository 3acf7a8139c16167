"""Options and helpers shared by several commands."""

from __future__ import annotations

import click

from poppyscan.detect.runtime import BACKENDS, MAX_BATCH, MAX_WORKERS
from poppyscan.errors import ConfigError

__all__ = ["class_map_option", "grid_options", "inference_options", "default_of", "parse_bands",
           "ProgressBar"]


def default_of(config: str, key: str) -> str:
    """A built-in default for help texts, e.g. ``[configs/tiling.yaml: 640]``."""
    from poppyscan.config import defaults

    value = defaults(config)[key]
    shown = "none" if value is None else ",".join(map(str, value)) if isinstance(value, list) else value
    return f"[configs/{config}.yaml: {shown}]"


def plural(n: int, word: str) -> str:
    """``plural(1, "target") == "1 target"``, ``plural(2, "chip") == "2 chips"`` (thousands split)."""
    return f"{n:,d} {word}{'' if n == 1 else 's'}"


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


def class_map_option(func):
    """``--class-map SRC=DST`` (repeatable): rename label classes as they are read."""
    return click.option(
        "--class-map", "class_map", multiple=True, metavar="SRC=DST", callback=_class_map,
        help="Rename a label class as the labels are read, e.g. Tree=tree; repeat for several "
             "(several names may become one class).")(func)


def _class_map(ctx, param, values) -> dict[str, str] | None:
    mapping: dict[str, str] = {}
    for value in values:
        src, sep, dst = (part.strip() for part in value.partition("="))
        if not sep or not src or not dst or src in mapping:
            raise click.BadParameter(f"{value!r}: expected SRC=DST, each SRC once",
                                     param_hint="--class-map")
        mapping[src] = dst
    return mapping or None


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
    """``--device``, ``--backend``, ``--batch-size``, ``--workers``: how detection runs (never what it finds)."""
    options = [
        click.option("--device", default=None,
                     help="cpu, cuda, cuda:N, or auto (CUDA when present, in half precision) "
                          f"{default_of('detect', 'device')}."),
        click.option("--backend", default=None,
                     type=click.Choice(BACKENDS),
                     help="Runtime of the network: auto picks the fastest the bundle and this "
                          f"machine have {default_of('detect', 'backend')}."),
        click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=None,
                     help=f"Chips per forward pass, 1-{MAX_BATCH} "
                          f"{default_of('detect', 'batch_size')}."),
        click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
                     help=f"Reader threads, 1-{MAX_WORKERS} {default_of('detect', 'workers')}."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class ProgressBar:
    """Progress for :mod:`poppyscan.api`'s ``progress``: a bar with rate and ETA redrawn in
    place on a terminal, plain lines at a steady pace otherwise (so a log shows a live run).

    Opens at ``start(total)``, so errors raised before the work starts print alone.
    """

    def __init__(self, description: str, *, unit: str = "chips", interval_s: float = 10.0,
                 plain: bool | None = None) -> None:
        import sys

        self.description, self.unit, self.interval_s = description, unit, interval_s
        self.plain = not sys.stderr.isatty() if plain is None else plain
        self._note: str | None = None
        self._total, self._done, self._started, self._last_line = None, 0, 0.0, 0.0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if not self._started:
            return
        if not self.plain:
            self._draw(final=True)
        elif exc[0] is None:
            self._line()

    def start(self, total: int | None) -> None:
        import time

        self._total, self._started = total, time.monotonic()
        self._last_line = self._started
        if not self.plain:
            self._draw()

    def source(self, label: str, index: int, count: int) -> None:
        """Name the file being worked on: ``label`` is number ``index`` of ``count``."""
        self.description = f"{self.description.split(' ')[0]} {label} ({index}/{count})"
        if not self.plain and self._started:
            self._draw()
        elif self.plain:
            self._line()

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Add ``n`` done; ``note`` replaces the rate (e.g. a validation score)."""
        import time

        self._done += n
        self._note = note if note is not None else self._note
        if not self.plain:
            if time.monotonic() - self._last_line >= 0.2:  # a few redraws a second
                self._draw()
        elif time.monotonic() - self._last_line >= self.interval_s:
            self._line(note)

    def _status(self, note: str | None = None) -> str:
        import time

        now = time.monotonic()
        self._last_line = now
        rate = self._done / max(now - self._started, 1e-9)
        eta = ""
        if self._total and rate > 0:
            eta = f", ETA {_clock((self._total - self._done) / rate)}"
        if self.unit == "bytes":  # 37.4 MB/s, not 37,393,351.5 bytes/s
            total = f"/{self._total / 1e6:,.1f}" if self._total else ""
            return f"{self._done / 1e6:,.1f}{total} MB, {note or f'{rate / 1e6:,.1f} MB/s'}{eta}"
        total = f"/{self._total}" if self._total else ""
        return (f"{self._done}{total} {self.unit}, "
                f"{note or f'{rate:,.1f} {self.unit}/s'}{eta}")

    def _line(self, note: str | None = None) -> None:
        click.echo(f"{self.description}: {self._status(note)}", err=True)

    def _draw(self, final: bool = False) -> None:
        """The bar, over the previous one (click's styling; no progress library needed)."""
        width = 30
        filled = min(width, round(width * self._done / self._total)) if self._total else 0
        bar = click.style("━" * filled, fg="green") + click.style("━" * (width - filled), dim=True)
        text = f"\r{click.style(self.description, bold=True)} {bar} {self._status(self._note)}"
        click.echo(text + "\x1b[K", err=True, nl=final)


def _clock(seconds: float) -> str:
    """``1:02:03`` for 3723 s."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
