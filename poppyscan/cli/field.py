"""``poppyscan field``: packages for crews' phones, and their verdicts read back."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import default_of, plural
from poppyscan.field.registry.state import STATES as TARGET_STATES

STATES = ("open", *TARGET_STATES)  # open: every state that still needs a crew


@click.group("field")
def field() -> None:
    """Field packages for QField, OsmAnd, Organic Maps and paper; verdicts back in."""


@field.command("package")
@click.option("--registry", "registry_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Mission registry (GeoPackage).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Package folder (OUT.zip is written beside it).")
@click.option("--mission", default=None, help="Only targets first seen by this mission [all].")
@click.option("--status", "states", multiple=True, type=click.Choice(STATES),
              help="Targets in this state; repeat for several. open = every state that needs "
                   "a crew (pending, replant, disputed, confirmed, inaccessible) [open].")
@click.option("--crews", type=click.IntRange(1, 100), default=None,
              help="Split into this many crew lists, each in walking order, 1-100 [one list].")
@click.option("--imagery-gsd", "imagery_gsd_m", type=click.FloatRange(0.01, 10), default=None,
              metavar="METRES", help="Ground resolution of the offline imagery, 0.01-10 "
                                     f"{default_of('field', 'imagery_gsd_m')}.")
@click.option("--imagery-margin", "imagery_margin_m", type=click.FloatRange(0, 1000, min_open=True),
              default=None, metavar="METRES", help="Imagery around each target, metres each "
              f"side, (0, 1000] {default_of('field', 'imagery_margin_m')}.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=None,
              help=f"JPEG quality of the imagery, 1-100 {default_of('field', 'jpeg_quality')}.")
@click.option("--overwrite", is_flag=True, help="Replace an existing package and zip.")
def package(registry_path, out_dir, mission, states, crews, overwrite, **imagery) -> None:
    """Write the QField project, GeoPackage, imagery, GPX, KMZ and printable list of the targets."""
    import poppyscan.api as ps

    options = {k: v for k, v in imagery.items() if v is not None}
    pkg = ps.field_package(registry_path, out_dir, mission=mission, states=states or ("open",),
                           crews=crews, overwrite=overwrite, **options)
    click.echo(f"Package {pkg.out_dir} ({pkg.zip_path.name}): {plural(len(pkg.targets), 'target')}")
    for crew in sorted({t.crew for t in pkg.targets if t.crew}):
        click.echo(f"  {crew}: {plural(sum(t.crew == crew for t in pkg.targets), 'target')}")
    if pkg.imagery is None:
        click.echo("  imagery: none (no orthomosaic of the runs could be read)")
    else:
        im = pkg.imagery
        click.echo(f"  imagery: {im.area_km2:.3f} km2 at {im.gsd_m:g} m, {im.bytes / 1e6:.1f} MB "
                   f"({im.mb_per_km2:.1f} MB/km2); {plural(im.n_without, 'target')} without imagery")
    click.echo(f"  open {pkg.out_dir / (pkg.out_dir.name + '.qgz')} in QField; bring back "
               "field.gpkg with its -wal file (or the folder zipped) for `poppyscan field import`")


@field.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--registry", "registry_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Mission registry (GeoPackage).")
def import_(files, registry_path) -> None:
    """Read crews' verdicts into the registry: GPKG (as QField left it), zip, CSV, GPX, KML, KMZ."""
    import poppyscan.api as ps

    for s in ps.import_verdicts(registry_path, files):
        note = " (imported before: nothing changed)" if s.already else ""
        click.echo(f"{s.path}: {s.applied} applied, {s.skipped} skipped, {len(s.flagged)} "
                   f"flagged{note}")
        for target_id, why in s.flagged:
            click.echo(f"  flagged {target_id or '?'}: {why}")
