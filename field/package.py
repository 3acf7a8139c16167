"""``write_field_package``: everything a crew copies to a phone, in one folder and one zip.

::

    OUT/<name>.qgz      QGIS/QField project: styles, verdict form, layers below
    OUT/field.gpkg      targets (crews edit status, visited_at, crew, note, photo) + plots
    OUT/imagery.gpkg    offline imagery around the targets (see :mod:`.imagery`)
    OUT/targets.gpx     GPX 1.1 waypoints, one route per crew
    OUT/targets.kmz     styled placemarks with thumbnails, a folder per crew
    OUT/list.html       printable list, one table per crew in visit order
    OUT/thumbs/         crops of the orthomosaic per target
    OUT/DCIM/           where QField stores the crews' photos
    OUT/package.json    what was packaged from which registry, imagery size per km2
    OUT.zip             all of the above

Return the field.gpkg as QField leaves it (with its -wal file, or the whole
folder zipped) to ``poppyscan field import``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from poppyscan.config import defaults
from poppyscan.errors import ConfigError
from poppyscan.field.crews import assign_crews, visit_order
from poppyscan.field.gpkg import write_field_gpkg
from poppyscan.field.imagery import ImageryStats, write_imagery
from poppyscan.field.printable import write_printable_list
from poppyscan.field.qgis_project import write_qgis_project
from poppyscan.field.registry.geo import LocalUTM
from poppyscan.field.selection import FieldTarget, select_targets
from poppyscan.field.waypoints import write_field_gpx, write_field_kmz
from poppyscan.output_folder import STATE_DIR, OutputFolder
from poppyscan.provenance import utc_now

__all__ = ["FieldPackage", "write_field_package"]

DEFAULTS = defaults("field")
MANIFEST = "package.json"  # written last: a package folder holding it is complete
_OUTPUTS = ("field.gpkg", "imagery.gpkg", "targets.gpx", "targets.kmz", "list.html", "thumbs",
            "DCIM")


@dataclass(frozen=True)
class FieldPackage:
    """A written package: its folder, zip, targets (in rank order) and imagery figures."""

    out_dir: Path
    zip_path: Path
    targets: list[FieldTarget]
    paths: dict[str, Path]
    imagery: ImageryStats | None


def write_field_package(
    registry: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mission: str | None = None,
    states: Sequence[str] = ("open",),
    crews: int | None = None,
    imagery_margin_m: float = DEFAULTS["imagery_margin_m"],
    imagery_gsd_m: float = DEFAULTS["imagery_gsd_m"],
    jpeg_quality: int = DEFAULTS["jpeg_quality"],
    overwrite: bool = False,
) -> FieldPackage:
    """Package the registry's targets in ``states`` (``open``: all that need a crew).

    ``mission``: only targets first seen by that mission. ``crews``: split into
    that many crew lists in visit order (:mod:`.crews`). Imagery options: see
    :func:`~poppyscan.field.imagery.write_imagery` (defaults:
    ``configs/field.yaml``). ``OUT`` and ``OUT.zip`` are replaced only with
    ``overwrite``.
    """
    out = Path(out_dir)
    zip_path = out.parent / f"{out.name}.zip"
    taken = [p for p in (out, zip_path) if p.exists() and not (
        p.is_dir() and not any(c.name != STATE_DIR for c in p.iterdir()))]
    if taken and not overwrite:
        raise ConfigError(f"{taken[0]} already exists; pass --overwrite to replace it")
    targets = select_targets(registry, mission=mission, states=states)
    if not targets:
        raise ConfigError(f"{registry}: no target in state {', '.join(states)}"
                          f"{f' of mission {mission}' if mission else ''}; nothing to package")
    targets = with_crews(targets, crews or 1, named=crews is not None)  # one walk without crews
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = OutputFolder(out, (f"{out.name}.qgz", *_OUTPUTS), manifest=MANIFEST)
    with folder.open():
        staging = folder.staging()
        try:
            imagery = _write_all(staging, out.name, targets, registry=registry, mission=mission,
                                 states=states, crews=crews, imagery_options=dict(
                                     margin_m=imagery_margin_m, gsd_m=imagery_gsd_m,
                                     jpeg_quality=jpeg_quality))
            _publish(folder, staging, zip_path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # a failed package leaves nothing behind
    paths = {p.name: p for p in sorted(out.iterdir()) if p.name != STATE_DIR}
    if imagery is not None:
        imagery = replace(imagery, path=out / imagery.path.name)
    return FieldPackage(out, zip_path, targets, paths, imagery)


def with_crews(targets: list[FieldTarget], n_crews: int, *,
               named: bool = True) -> list[FieldTarget]:
    """Targets (rank order) with a crew list and a visit order within it.

    ``named=False`` (one crew, no --crews): the walking order only, no crew name.
    """
    lon, lat = np.array([t.lon for t in targets]), np.array([t.lat for t in targets])
    xy = LocalUTM(float(lon.mean()), float(lat.mean())).xy(lon, lat)
    labels = assign_crews(xy, n_crews)
    out = list(targets)
    for crew in np.unique(labels):
        members = np.flatnonzero(labels == crew)  # rank order: the walk starts at the most urgent
        for stop, k in enumerate(visit_order(xy[members]), start=1):
            i = members[k]
            out[i] = replace(out[i], crew=f"crew {crew + 1}" if named else "", visit_order=stop)
    return out


def _write_all(folder: Path, name: str, targets, *, registry, mission, states, crews,
               imagery_options: dict) -> ImageryStats | None:
    (folder / "thumbs").mkdir()
    (folder / "DCIM").mkdir()
    for t in targets:
        if t.thumbnail is not None:
            shutil.copyfile(t.thumbnail, folder / "thumbs" / f"{t.target_id}.jpg")
    write_field_gpkg(targets, folder / "field.gpkg")
    imagery = write_imagery(targets, folder / "imagery.gpkg", **imagery_options)
    lons, lats = [t.lon for t in targets], [t.lat for t in targets]
    title = package_title(mission, targets)
    write_qgis_project(folder / f"{name}.qgz", title=title,
                       extent=(min(lons), min(lats), max(lons), max(lats)),
                       gpkg_name="field.gpkg", imagery_name="imagery.gpkg" if imagery else None)
    write_field_gpx(targets, folder / "targets.gpx", title=title)
    write_field_kmz(targets, folder / "targets.kmz", title=title)
    created_at = utc_now()
    write_printable_list(targets, folder / "list.html", title=title, created_at=created_at)
    manifest = {
        "schema": "poppyscan.field-package/1", "created_at": created_at,
        # The registry's name only: a package travels, the server's folders stay private.
        "registry": Path(registry).name, "mission": mission, "states": list(states),
        "crews": {c: sum(t.crew == c for t in targets) for c in sorted({t.crew for t in targets})}
        if crews else None,
        "targets": [t.target_id for t in targets],
        "imagery": None if imagery is None else {
            **{k: v for k, v in dataclasses.asdict(imagery).items() if k != "path"},
            "margin_m": imagery_options["margin_m"], "mb_per_km2": round(imagery.mb_per_km2, 2)},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return imagery


def package_title(mission: str | None, targets: Sequence[FieldTarget]) -> str:
    """``Mission M7``, or ``Missions M1, M2`` for a package of several: never the folder's name."""
    missions = [mission] if mission else sorted({t.mission for t in targets})
    return f"Mission{'s' if len(missions) > 1 else ''} {', '.join(missions)}"


def _publish(folder: OutputFolder, staging: Path, zip_path: Path) -> None:
    """The staged package into its folder (package.json last), then its zip beside it.

    Each replaces the old one only when whole: a kill leaves the old package, or
    the new folder (finished by the next package into it) with the old zip.
    """
    tmp_zip = folder.state / f"{folder.out.name}.zip.part"
    try:
        _zip(staging, tmp_zip, folder.out.name)
        folder.publish(staging)
        os.replace(tmp_zip, zip_path)
    finally:
        tmp_zip.unlink(missing_ok=True)


def _zip(folder: Path, zip_path: Path, name: str) -> None:
    """Zip ``folder`` as ``name/...`` (empty folders kept: QField writes photos into DCIM/)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            arcname = f"{name}/{path.relative_to(folder).as_posix()}"
            if path.is_dir():
                archive.writestr(arcname + "/", "")
            else:
                archive.write(path, arcname)
