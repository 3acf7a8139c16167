"""The team's mission registry: status per mission, and crews' returned packages coming in.

A returned package is sent as the raw request body (``PUT``, the file name in
``X-Filename``), so its size is checked from ``Content-Length`` before any byte
is stored, and checked again while it streams. Its first bytes must match its
kind (GeoPackage, zip, or text for CSV, GPX and KML) before
:func:`~poppyscan.field.registry.import_verdicts` reads it, in a child process
with time and memory limits (:mod:`.import_child`).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request

from poppyscan.service.deps import Caller, Db, data_of, owned, settings_of
from poppyscan.service.store import new_id

__all__ = ["MAX_RETURN_BYTES", "router"]

router = APIRouter(prefix="/api")
MAX_RETURN_BYTES = 2 << 30
_MAGIC = {".gpkg": (b"SQLite format 3\x00",), ".zip": (b"PK\x03\x04",), ".kmz": (b"PK\x03\x04",)}
_TEXT = (".csv", ".gpx", ".kml")


@router.get("/missions/{mission_id}/registry")
def registry(mission_id: str, request: Request, user: Caller, con: Db) -> dict:
    """``poppyscan registry status`` of the team's registry for this mission, with its coverage."""
    from poppyscan.field.registry.status import mission_coverage, registry_status

    mission = owned(con, "mission", mission_id, user)
    path = data_of(request).registry(user.team_id)
    if not path.exists():
        return {"missions": [], "targets": [], "imports": 0, "conflicts": 0,
                "coverage": {"type": "FeatureCollection", "features": []}}
    # The mission page is the mission: every flight's targets and coverage, not the last job's.
    return {**registry_status(path, mission=mission["name"]).to_dict(),
            "coverage": mission_coverage(path, mission["name"])}


@router.put("/missions/{mission_id}/returns")
async def returned_package(mission_id: str, request: Request, user: Caller, con: Db) -> list[dict]:
    """Import a crew's returned field package (GPKG, zip, CSV, GPX, KML, KMZ) into the registry."""
    from starlette.concurrency import run_in_threadpool

    owned(con, "mission", mission_id, user)
    suffix = Path(request.headers.get("x-filename", "")).suffix.lower()
    if suffix not in (*_MAGIC, *_TEXT):
        raise HTTPException(415, "X-Filename must end in .gpkg, .zip, .csv, .gpx, .kml or .kmz")
    length = request.headers.get("content-length", "")
    if not re.fullmatch(r"[0-9]{1,19}", length) or int(length) > MAX_RETURN_BYTES:
        raise HTTPException(413, f"send Content-Length, at most {MAX_RETURN_BYTES:,} bytes")
    folder = data_of(request).team_dir(user.team_id) / "returns"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{new_id()}{suffix}"
    try:
        await _receive(request, path, int(length))
        _check_content(path, suffix)
        return await run_in_threadpool(_import, data_of(request).registry(user.team_id), path,
                                       request.headers.get("x-filename", ""),
                                       settings_of(request))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _receive(request: Request, path: Path, length: int) -> None:
    size = 0
    with open(path, "wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > length:
                raise HTTPException(413, "the body is longer than its Content-Length")
            out.write(chunk)


def _check_content(path: Path, suffix: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if suffix in _MAGIC:
        ok = head.startswith(_MAGIC[suffix])
    else:
        ok = b"\x00" not in head and not re.search(rb"<\s*OGRVRTDataSource|<\s*VRTDataset", head)
    if not ok:
        raise HTTPException(415, f"the file's content is not a {suffix.lstrip('.')} file")


def _import(registry: Path, path: Path, client_name: str, settings) -> list[dict]:
    """The import, in a child process with limits (:mod:`.import_child`)."""
    from poppyscan.service.import_child import run_import

    if not registry.exists():
        raise HTTPException(409, "the team has no registry yet: run detection on a mission first")
    return run_import(registry, path, client_name, settings)
