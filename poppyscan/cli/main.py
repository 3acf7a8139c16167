"""Entry point of the ``poppyscan`` command.

Subcommands live in their own modules and are imported only when invoked, so
``poppyscan --help`` stays instant (no torch, no GDAL at start-up).
"""

from __future__ import annotations

import importlib
import signal
import sys

import click

from poppyscan import __version__

# command name -> (module, attribute, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "tile": ("poppyscan.cli.tile", "tile", "Cut orthomosaics into georeferenced chips."),
    "synth": ("poppyscan.cli.synth", "synth", "Generate a synthetic survey with ground truth."),
    "detect": ("poppyscan.cli.detect", "detect", "Find suspected plots and write field targets."),
    "demo": ("poppyscan.cli.demo", "demo", "Run detect on a synthetic survey with the bundled model."),
    "model": ("poppyscan.cli.model", "model", "Inspect model bundles."),
    "dataset": ("poppyscan.cli.dataset", "dataset", "Build training datasets from labels."),
    "train": ("poppyscan.cli.train", "train", "Train a model bundle on a dataset."),
    "evaluate": ("poppyscan.cli.evaluate", "evaluate", "Score a model on labelled orthomosaics."),
    "compare": ("poppyscan.cli.compare", "compare", "Score two models side by side on the same flights."),
    "labels": ("poppyscan.cli.labels", "labels", "Round-trip labels with Label Studio and CVAT."),
    "registry": ("poppyscan.cli.registry", "registry", "Record runs; see what is open."),
    "field": ("poppyscan.cli.field", "field", "Packages for crews' phones; verdicts back."),
    "serve": ("poppyscan.cli.serve", "serve", "Run the survey service (web app and workers)."),
    "users": ("poppyscan.cli.serve", "users", "Accounts of the survey service."),
    "backup": ("poppyscan.cli.serve", "backup", "Copy a survey service's state and registries."),
    "upload": ("poppyscan.cli.upload", "upload", "Upload orthomosaics to a service; get targets."),
    "review": ("poppyscan.cli.review", "review", "Triage a run's targets on a local page."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if _module_exists(module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from poppyscan.errors import PoppyscanError, RunInterrupted

        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return super().invoke(ctx)
        except RunInterrupted as err:  # Ctrl-C or SIGTERM in a resumable run: how to resume
            click.echo(str(err), err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except PoppyscanError as err:
            # Expected failures: one clear line, no traceback, non-zero exit.
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame) -> None:
    """SIGTERM stops a run the way Ctrl-C does: cleanly, journal kept."""
    raise KeyboardInterrupt


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="poppyscan")
def cli() -> None:
    """Turn a mission's orthomosaics into a short list of targets for field crews."""
