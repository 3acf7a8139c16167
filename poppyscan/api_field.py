"""The field side of the API: the mission registry, packages for crews' phones, verdicts back,
and office review of a run before crews walk.

A sketch of the loop, as the README walks it::

    import poppyscan.api as ps

    run = ps.detect(["flight1"], "run1", registry="north.gpkg")     # ids from the registry
    ps.field_package("north.gpkg", "pkg", mission="M7")              # QField, GPX, KMZ, paper
    ps.import_verdicts("north.gpkg", ["pkg-back/field.gpkg"])        # what the crews found
    print(ps.registry_status("north.gpkg", mission="M7").missions[0].open)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poppyscan.field.package import FieldPackage
    from poppyscan.field.registry import ImportSummary, RecordSummary, RegistryStatus
    from poppyscan.field.review import Review

__all__ = ["field_package", "import_verdicts", "open_review", "record_run", "registry_status"]

PathLike = str | os.PathLike


def record_run(registry: PathLike, run_dir: PathLike, *, flown_at: str | None = None,
               position_uncertainty_m: float | None = None, prefix: str | None = None,
               name: bool = True) -> RecordSummary:
    """Record a published ``detect`` run folder into ``registry`` (created when missing).

    Repeat flights join the targets already known; with ``name`` the folder's
    outputs are republished under the registry's ids (the run's own kept as
    ``run_target_id``), as ``detect(..., registry=...)`` does.
    """
    from poppyscan.field.registry import name_run
    from poppyscan.field.registry import record_run as record

    summary = record(registry, run_dir, flown_at=flown_at, prefix=prefix,
                     position_uncertainty_m=position_uncertainty_m)
    if name:
        name_run(registry, run_dir, summary.run_id)
    return summary


def registry_status(registry: PathLike, *, mission: str | None = None) -> RegistryStatus:
    """Per mission and per target: sightings, verdicts, open, confirmed, eradicated, replants."""
    from poppyscan.field.registry import registry_status as status

    return status(registry, mission=mission)


def field_package(registry: PathLike, out_dir: PathLike, *, mission: str | None = None,
                  states: Sequence[str] = ("open",), crews: int | None = None,
                  overwrite: bool = False, **imagery: Any) -> FieldPackage:
    """The QField project, GeoPackage, offline imagery, GPX, KMZ and printable list of the
    registry's targets in ``states`` (``imagery``: ``imagery_gsd_m``, ``imagery_margin_m``)."""
    from poppyscan.field import write_field_package

    return write_field_package(registry, out_dir, mission=mission, states=states, crews=crews,
                               overwrite=overwrite, **imagery)


def import_verdicts(registry: PathLike, files: Sequence[PathLike]) -> list[ImportSummary]:
    """Read crews' verdicts into ``registry``: GPKG as QField left it, zip, CSV, GPX, KML, KMZ.

    Every file is read (with limits) before any is applied; importing a file twice
    changes nothing the second time.
    """
    from poppyscan.field.registry import import_verdicts as read_in

    return read_in(registry, files)


def open_review(run_dir: PathLike) -> Review:
    """Office review of a published run: decisions saved in ``run_dir/review.json`` as they are
    made; ``review.apply(registry)`` republishes the folder without the rejected targets."""
    from poppyscan.field.review import Review

    return Review.open(run_dir)
