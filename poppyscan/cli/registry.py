"""``poppyscan registry``: record detection runs into a mission registry and see what is open."""

from __future__ import annotations

import json
from pathlib import Path

import click

from poppyscan.cli.options import plural

REGISTRY_HELP = "Mission registry: one GeoPackage per operation area (created when missing)."


@click.group("registry")
def registry() -> None:
    """The mission registry: runs, targets, sightings and crew verdicts of one area."""


@registry.command("record")
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--registry", "registry_path", required=True, type=click.Path(dir_okay=False),
              help=REGISTRY_HELP)
@click.option("--flown-at", default=None, metavar="DATE",
              help="Flight date of the run(s), ISO 8601 [run.json's flown_at, else created_at].")
@click.option("--uncertainty-m", "position_uncertainty_m", type=click.FloatRange(0, 100,
              min_open=True), default=None, metavar="METRES",
              help="Horizontal georeference error of the flight in metres, (0, 100] "
                   "[configs/registry.yaml: 2.5].")
@click.option("--prefix", default=None, metavar="LETTERS",
              help="Target id prefix of a new registry, 1-16 letters or digits [the file name].")
@click.option("--name/--no-name", "rename", default=True,
              help="Republish each run's outputs under the registry's target ids, the run's own "
                   "ids kept as run_target_id, as detect --registry does [--name].")
def record(run_dirs, registry_path, flown_at, position_uncertainty_m, prefix, rename) -> None:
    """Record published `poppyscan detect` run folders (RUN_DIR...) into the registry."""
    import poppyscan.api as ps

    for run_dir in run_dirs:
        s = ps.record_run(registry_path, run_dir, flown_at=flown_at, prefix=prefix,
                          position_uncertainty_m=position_uncertainty_m, name=rename)
        echo_recorded(run_dir, s)


def echo_recorded(run_dir, s) -> None:
    """One line on what recording a run into the registry did."""
    if s.already:
        click.echo(f"{run_dir}: run {s.run_id} already recorded; nothing changed")
        return
    click.echo(f"{run_dir}: run {s.run_id} ({s.mission}, flown {s.flown_at[:10]}): "
               f"{plural(s.n_sightings, 'sighting')}, {s.n_matched} of known targets, "
               f"{plural(s.n_new, 'new target')}, {s.n_flown_not_seen} flown but not seen, "
               f"{plural(s.n_replants, 'replant')}")


@registry.command("status")
@click.option("--registry", "registry_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Mission registry (GeoPackage).")
@click.option("--mission", default=None, help="Only this mission [every mission].")
@click.option("--targets/--no-targets", "show_targets", default=True,
              help="List every target under the mission counts [--targets].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(registry_path, mission, show_targets, as_json) -> None:
    """Per mission and per target: sightings, verdicts, open, confirmed, eradicated, replants."""
    import poppyscan.api as ps
    from poppyscan.detect.export._labels import lat_lon_text

    report = ps.registry_status(registry_path, mission=mission)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"{'mission':<12}{'runs':>5}{'targets':>8}{'seen':>6}{'verdicts':>9}{'open':>6}"
               f"{'confirmed':>10}{'eradicated':>11}{'false+':>7}{'not found':>10}"
               f"{'disputed':>9}{'replants':>9}")
    for m in report.missions:
        s = m.states
        click.echo(f"{m.mission:<12}{m.runs:>5}{m.targets:>8}{m.sightings:>6}{m.verdicts:>9}"
                   f"{m.open:>6}{s['confirmed']:>10}{s['eradicated']:>11}{s['false_positive']:>7}"
                   f"{s['not_found']:>10}{s['disputed']:>9}{m.replants:>9}")
    click.echo(f"{report.imports} files imported; {report.conflicts} verdicts kept as conflicts")
    if show_targets and report.targets:
        click.echo(f"\n{'target':<14}{'mission':<10}{'state':<15}{'seen':>5}{'not seen':>9}"
                   f"{'verdicts':>9}{'conflicts':>10}{'replants':>9}  last seen   lat, lon")
        for t in report.targets:
            last_seen = (t.last_seen or "")[:10]
            click.echo(f"{t.target_id:<14}{t.mission:<10}{t.state:<15}{t.n_sightings:>5}"
                       f"{t.n_flown_not_seen:>9}{t.n_verdicts:>9}{t.n_conflicts:>10}"
                       f"{t.n_replants:>9}  {last_seen:<10}  {', '.join(lat_lon_text(t.lat, t.lon))}")
