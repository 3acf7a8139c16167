"""``poppyscan review RUN_DIR``: office triage of a run's targets on a local page, before crews walk."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import plural


@click.command("review")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--registry", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Mission registry (GeoPackage, created when missing): the run is recorded and "
                   "each rejection goes in as a verdict false_positive of crew 'office' [none].")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--apply", "apply_only", is_flag=True,
              help="Serve nothing: rewrite the field outputs from the decisions already in "
                   "RUN_DIR/review.json, then exit.")
def review(run_dir: Path, registry: Path | None, port: int, apply_only: bool) -> None:
    """Mark each target keep (k), reject (r) or unsure (u) from its thumbnails at two zooms.

    Decisions are saved in RUN_DIR/review.json as they are made. "Write field
    outputs" (w) republishes RUN_DIR without the rejected targets (run.json
    verified as after detect) and writes RUN_DIR/rejected.geojson, hard negatives
    for `poppyscan dataset build --hard-negatives`. The page is served on
    127.0.0.1 only; stop with Ctrl-C.
    """
    import poppyscan.api as ps

    session = ps.open_review(run_dir)
    if apply_only:
        _echo_applied(session.apply(registry), run_dir)
        return
    from poppyscan.field.review_server import make_server

    server = make_server(session, port=port, registry=registry)
    host, bound = server.server_address[:2]
    counts = session.counts()
    click.echo(f"Reviewing {plural(len(session.targets), 'target')} of {run_dir} ({counts['undecided']} "
               f"undecided): open http://{host}:{bound}/ ; Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped; decisions are saved in " + str(run_dir / "review.json"))
    finally:
        server.server_close()


def _echo_applied(done, run_dir: Path) -> None:
    click.echo(f"{run_dir}: {plural(done.kept, 'target')} kept, {done.rejected} rejected "
               f"({done.rejected_path}), {done.unsure} unsure or undecided kept"
               + ("" if done.verdicts_applied is None
                  else f"; {done.verdicts_applied} office verdicts into the registry"))
