"""A finished upload becomes a mission's orthomosaic only after the checks ``detect`` runs.

First by content: the first bytes must be a TIFF or BigTIFF header. GDAL
opens files by content, not by name, so an uploaded VRT (an XML file that
points GDAL at any path on the server) is refused here before GDAL sees it.
The web process also runs with ``GDAL_SKIP=VRT`` (:mod:`.gdal_env`); that
alone is not enough, because rasterio's WarpedVRT registers the VRT driver
again on first use. The rest runs in a child process with CPU-time and
memory limits (:mod:`.intake_child`), so a hostile file costs the web process
nothing: the bytes its blocks really store (:mod:`.tiff_blocks`),
:func:`~poppyscan.tiles.raster.inspect_raster` and
:func:`~poppyscan.tiles.scale.check_scale`, as ``detect`` runs them, and a
map preview (:mod:`.preview`). Then the team's pixel quota. A refused file's
bytes are deleted at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from poppyscan.errors import PoppyscanError, RasterError
from poppyscan.service import records
from poppyscan.service.intake_child import IntakeChecks, run_limited
from poppyscan.service.store import (
    DEFAULT_SETTINGS,
    DataDir,
    ServiceSettings,
    connect,
    public_text,
    transaction,
)

__all__ = ["IntakeChecks", "PART_NAME", "check_upload", "preview_path", "safe_file_name"]

PART_NAME = "upload.part"  # the bytes while they arrive
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both orders


def safe_file_name(name: str | None) -> str:
    """The name a file is stored under: letters, digits, ``_`` and ``-``, then ``.tif``.

    Only the base name of what the client sent is kept, so the stored file's
    label in the outputs matches a local ``detect`` of a file of that name.

    >>> safe_file_name("../../etc/passwd"), safe_file_name("flight 3/odm_orthophoto.tif")
    ('passwd.tif', 'odm_orthophoto.tif')
    >>> safe_file_name(None), safe_file_name("west.TIFF")
    ('ortho.tif', 'west.tif')
    """
    base = re.split(r"[\\/]", name or "")[-1]
    stem = base[: -len(Path(base).suffix)] if Path(base).suffix.lower() in (".tif", ".tiff") else base
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:64]
    return f"{stem or 'ortho'}.tif"


def preview_path(data: DataDir, file_id: str) -> Path:
    return data.file_dir(file_id) / "map" / "preview.tif"


def check_upload(data: DataDir, checks: IntakeChecks, file_id: str,
                 settings: ServiceSettings = DEFAULT_SETTINGS) -> None:
    """Check a complete upload and mark it ``ready`` (with its bounds) or ``rejected`` (why)."""
    con = connect(data)
    try:
        row = records.file_row(con, file_id)
        if row is None or row["state"] != "checking":
            return
        folder = data.file_dir(file_id)
        try:
            bounds, pixels = _check(folder, row["name"], checks, settings)
            _check_pixel_quota(con, row["team_id"], file_id, pixels, settings)
            state, error = "ready", None
        except PoppyscanError as err:
            error = public_text(data, str(err).replace(str(folder) + os.sep, ""))
            state, bounds, pixels = "rejected", None, None
        if state == "rejected":
            for leftover in (folder / PART_NAME, folder / row["name"], preview_path(data, file_id)):
                leftover.unlink(missing_ok=True)
        with transaction(con):
            records.record_check(con, file_id, state, error, bounds, pixels)
    finally:
        con.close()


def _check(folder: Path, name: str, checks: IntakeChecks,
           settings: ServiceSettings) -> tuple[list[float], int]:
    """The content check here, then the raster's checks and preview in a limited child process."""
    part = folder / PART_NAME
    with open(part, "rb") as handle:
        head = handle.read(4)
    if head not in TIFF_MAGIC:
        raise RasterError(f"{name}: not a GeoTIFF (it starts with {head!r}); upload the "
                          "orthomosaic itself as a GeoTIFF, never a VRT or another format")
    final = folder / name
    os.replace(part, final)
    return run_limited(final, checks, settings)


def _check_pixel_quota(con, team_id: str, file_id: str, pixels: int,
                       settings: ServiceSettings) -> None:
    used = records.used_pixels(con, team_id, besides=file_id)
    if used + pixels > settings.team_quota_px:
        raise RasterError(f"the team's files would hold {used + pixels:,} px, over its quota "
                          f"of {settings.team_quota_px:,} px; delete files it no longer needs")


def recheck_pending(data: DataDir, checks: IntakeChecks,
                    settings: ServiceSettings = DEFAULT_SETTINGS) -> None:
    """Check uploads a stopped service left half-checked (run at start-up)."""
    con = connect(data)
    try:
        pending = records.files_in_state(con, "checking")
    finally:
        con.close()
    for file_id in pending:
        if not (data.file_dir(file_id) / PART_NAME).exists():
            con = connect(data)
            with transaction(con):  # renamed before the stop: start its checks over
                name = records.file_name(con, file_id)
                os.replace(data.file_dir(file_id) / name, data.file_dir(file_id) / PART_NAME)
            con.close()
        check_upload(data, checks, file_id, settings)
