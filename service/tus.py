"""Resumable uploads: the tus 1.0.0 protocol's core, creation and termination parts.

Written here rather than taken from a tus server package: the FastAPI ones
checked (tuspyserver 4.4) always enable creation-defer-length, which creates
an upload with no length (so no size or quota check before bytes arrive), and
concatenation, which joins uploads by id across owners; they keep their own
metadata beside the files, outside the team checks of :mod:`.deps`.

``POST /api/uploads`` creates an upload for one of the caller's missions after
checking its ``Upload-Length`` against the size limit, the team's quota, the
team's count of unfinished uploads and the free disk less what unfinished
uploads may still write (413 / 429 / 507, before any byte is stored,
:mod:`.space`); the server makes the id. Unfinished uploads expire.
``HEAD`` gives the offset to resume from, ``PATCH`` appends at that offset,
``DELETE`` removes an upload. The last byte hands the file to :mod:`.intake`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import shutil
import sqlite3

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from starlette.requests import ClientDisconnect

from poppyscan.service import records
from poppyscan.service.deps import Caller, Db, data_of, owned, settings_of
from poppyscan.service.intake import PART_NAME, check_upload, safe_file_name
from poppyscan.service.space import check_room, expire_uploads, is_disk_full
from poppyscan.service.store import new_id, transaction

__all__ = ["router"]

TUS_VERSION = "1.0.0"
router = APIRouter(prefix="/api/uploads")
_receiving: set[str] = set()  # uploads a PATCH is writing now (freed when it ends)
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes '²', int() does not


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _require_tus(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise HTTPException(412, f"Tus-Resumable: {TUS_VERSION} is required",
                            headers={"Tus-Version": TUS_VERSION})


@router.options("")
def options(request: Request) -> Response:
    return Response(status_code=204, headers=_tus_headers(
        **{"Tus-Version": TUS_VERSION, "Tus-Extension": "creation,termination",
           "Tus-Max-Size": str(settings_of(request).max_upload_bytes)}))


@router.post("")
def create(request: Request, user: Caller, con: Db) -> Response:
    """A new upload of ``Upload-Length`` bytes into the mission named in ``Upload-Metadata``."""
    _require_tus(request)
    length = _length(request.headers.get("upload-length"))
    meta = _metadata(request.headers.get("upload-metadata", ""))
    mission = owned(con, "mission", meta.get("mission", ""), user)
    settings, data = settings_of(request), data_of(request)
    if length > settings.max_upload_bytes:
        raise HTTPException(413, f"{length:,} bytes is over the limit of "
                                 f"{settings.max_upload_bytes:,} bytes per file")
    expire_uploads(data, settings)
    file_id = new_id()
    with transaction(con):
        check_room(con, data, settings, user.team_id, user.team, length)
        records.add_file(con, file_id, user.team_id, mission["id"],
                         safe_file_name(meta.get("filename")), length)
        folder = data.file_dir(file_id)
        folder.mkdir(parents=True)
        (folder / PART_NAME).touch()
    return Response(status_code=201, headers=_tus_headers(Location=f"/api/uploads/{file_id}"))


@router.head("/{file_id}")
def head(file_id: str, request: Request, user: Caller, con: Db) -> Response:
    _require_tus(request)
    row = owned(con, "file", file_id, user)
    if row["state"] == "rejected":  # expired or refused: a client resuming it starts over
        raise HTTPException(410, row["error"] or "the upload was refused",
                            headers=_tus_headers())
    return Response(status_code=200, headers=_tus_headers(
        **{"Upload-Offset": str(row["offset"]), "Upload-Length": str(row["length"])}))


@router.patch("/{file_id}")
async def patch(file_id: str, request: Request, user: Caller, con: Db,
                background: BackgroundTasks) -> Response:
    """Append the body at ``Upload-Offset``; the last byte starts the checks of :mod:`.intake`."""
    _require_tus(request)
    row = owned(con, "file", file_id, user)
    if request.headers.get("content-type") != "application/offset+octet-stream":
        raise HTTPException(415, "Content-Type must be application/offset+octet-stream")
    if file_id in _receiving:
        raise HTTPException(409, "this upload is receiving another request")
    _receiving.add(file_id)  # no await since the check: one event loop, so no race
    try:
        row = owned(con, "file", file_id, user)  # the offset as of now
        offset = _length(request.headers.get("upload-offset"), name="Upload-Offset", least=0)
        if row["state"] != "receiving" or offset != row["offset"]:
            raise HTTPException(409, f"the upload is at offset {row['offset']} ({row['state']})")
        part = data_of(request).file_dir(file_id) / PART_NAME
        try:
            written, too_long, full = await _append(request, part, offset, row["length"] - offset)
        except FileNotFoundError:
            raise HTTPException(410, "the upload's bytes are gone (deleted or expired)") from None
        end = offset + written
        state = "checking" if end == row["length"] else "receiving"
        try:
            with transaction(con):  # only while still receiving: expiry may have come meanwhile
                gone = not records.set_offset(con, file_id, end, state)
        except sqlite3.OperationalError as err:
            if not is_disk_full(err, data_of(request)):
                raise
            with contextlib.suppress(FileNotFoundError):  # the old offset stays: resume there
                os.truncate(part, offset)
            end, full, gone = offset, True, False
    finally:
        _receiving.discard(file_id)
    if gone:
        raise HTTPException(410, "the upload expired while this request ran; start it again")
    if full:
        raise HTTPException(507, f"the server's disk is full; {end:,} bytes are kept, resume "
                                 "from there later",
                            headers=_tus_headers(**{"Upload-Offset": str(end)}))
    if state == "checking":
        background.add_task(check_upload, data_of(request), request.app.state.checks, file_id,
                            settings_of(request))
    # A body running past Upload-Length is cut there and answered 413.
    return Response(status_code=413 if too_long else 204,
                    headers=_tus_headers(**{"Upload-Offset": str(end)}))


@router.delete("/{file_id}")
def delete(file_id: str, request: Request, user: Caller, con: Db) -> Response:
    """Terminate an upload (or remove a finished file no queued or running job needs)."""
    _require_tus(request)
    row = owned(con, "file", file_id, user)
    with transaction(con):  # held while the bytes go, so no job can take the file meanwhile
        busy = records.active_jobs_using(con, row["id"])
        if busy or row["state"] == "checking" or row["id"] in _receiving:
            raise HTTPException(409, "the file is in use; cancel its job first")
        # Bytes first: on a full disk the database can record the deletion only once they are gone.
        shutil.rmtree(data_of(request).file_dir(row["id"]), ignore_errors=True)
        records.delete_file(con, row["id"])
    return Response(status_code=204, headers=_tus_headers())


async def _append(request: Request, part, offset: int, room: int) -> tuple[int, bool, bool]:
    """Write the body at ``offset``, at most ``room`` bytes: (written, body was longer, disk full).

    Unbuffered writes, so ``written`` counts only bytes the file took; on a full
    disk the part is cut back to them and the upload can resume from there.
    """
    written, too_long, full = 0, False, False
    with open(part, "r+b", buffering=0) as out:
        out.seek(offset)
        try:
            async for chunk in request.stream():
                if written + len(chunk) > room:
                    chunk, too_long = chunk[: room - written], True
                written += _write_all(out, chunk)
                if too_long:
                    break
        except ClientDisconnect:
            pass  # keep what arrived: the client resumes from the offset HEAD reports
        except OSError as err:
            if not is_disk_full(err):
                raise
            full = True
            written += getattr(err, "written_in_chunk", 0)
            out.truncate(offset + written)
        os.fsync(out.fileno())
    return written, too_long, full


def _write_all(out, chunk: bytes) -> int:
    view, done = memoryview(chunk), 0
    while done < len(chunk):
        try:
            done += out.write(view[done:])
        except OSError as err:
            err.written_in_chunk = done
            raise
    return done


def _length(value: str | None, *, name: str = "Upload-Length", least: int = 1) -> int:
    if value is None or not _DIGITS.fullmatch(value) or int(value) < least:
        raise HTTPException(400, f"{name} must be a whole number of bytes (deferred lengths are "
                                 "not supported)")
    return int(value)


def _metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    meta = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            meta[key] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise HTTPException(400, f"Upload-Metadata {key!r}: not base64 UTF-8") from None
    return meta
