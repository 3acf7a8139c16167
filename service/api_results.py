"""What a mission produced: map tiles, run outputs, the field package and its QR code."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse

from poppyscan.service.deps import Caller, Db, data_of, owned
from poppyscan.service.intake import preview_path
from poppyscan.service.preview import render_tile

__all__ = ["REPORT_CSP", "output_files", "router"]

router = APIRouter(prefix="/api")
# The report is one self-contained page (inline CSS, images as data: URIs, no script): it may
# style itself and show its own images, and runs sandboxed; it still loads nothing from elsewhere.
REPORT_CSP = ("default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
              "script-src 'none'; sandbox")
_INLINE = {".jpg": "image/jpeg", ".png": "image/png", ".html": "text/html; charset=utf-8"}


@router.get("/files/{file_id}/tiles/{z}/{x}/{y}.png")
def tile(file_id: str, z: int, x: int, y: int, request: Request, user: Caller, con: Db) -> Response:
    """XYZ tile ``z/x/y`` (web mercator) of an accepted orthomosaic's preview."""
    row = owned(con, "file", file_id, user)
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise HTTPException(404, "no such tile")
    preview = preview_path(data_of(request), row["id"])
    if row["state"] != "ready" or not preview.exists():
        raise HTTPException(404, "the file has no map preview")
    return Response(render_tile(preview, z, x, y), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


def output_files(out: Path) -> list[dict]:
    """Every published file of a run folder (its own state folder left out), by relative path."""
    from poppyscan.output_folder import STATE_DIR

    return [{"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size}
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != STATE_DIR]


def _run_folder(request: Request, con, job_id: str, user) -> Path:
    from poppyscan.output_folder import verify_outputs

    job = owned(con, "job", job_id, user)
    out = data_of(request).job_dir(job["id"]) / "out"
    if verify_outputs(out):
        raise HTTPException(409, "the job has not published its outputs yet")
    return out


@router.get("/jobs/{job_id}/outputs")
def outputs(job_id: str, request: Request, user: Caller, con: Db) -> dict:
    """The run folder's files, as ``poppyscan detect --out`` writes them."""
    return {"files": output_files(_run_folder(request, con, job_id, user))}


@router.get("/jobs/{job_id}/outputs/{path:path}")
def output(job_id: str, path: str, request: Request, user: Caller, con: Db) -> Response:
    """One output file; only paths the run folder lists are served."""
    out = _run_folder(request, con, job_id, user)
    if path not in {f["path"] for f in output_files(out)}:
        raise HTTPException(404, "no such output")
    file = out / path
    suffix = file.suffix.lower()
    if suffix in _INLINE:
        headers = {"Content-Security-Policy": REPORT_CSP} if suffix == ".html" else {}
        return FileResponse(file, media_type=_INLINE[suffix], headers=headers)
    return FileResponse(file, filename=file.name, media_type="application/octet-stream")


@router.get("/jobs/{job_id}/field.zip")
def field_package(job_id: str, request: Request, user: Caller, con: Db) -> Response:
    job = owned(con, "job", job_id, user)
    zip_path = data_of(request).job_dir(job["id"]) / "field.zip"
    if job["state"] != "done" or not zip_path.is_file():
        raise HTTPException(409, "the job has no field package yet")
    mission = owned(con, "mission", job["mission_id"], user)
    return FileResponse(zip_path, filename=f"{mission['name']}-field.zip",
                        media_type="application/zip")


@router.get("/jobs/{job_id}/field-qr.svg")
def field_qr(job_id: str, request: Request, user: Caller, con: Db) -> Response:
    """A QR code of the field package's link on this server (phones log in, then download)."""
    import io

    import segno

    job = owned(con, "job", job_id, user)
    link = str(request.base_url).rstrip("/") + f"/jobs/{job['id']}/field"
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="svg", scale=4, border=2)
    return Response(buffer.getvalue(), media_type="image/svg+xml",
                    headers={"X-Package-Link": link})
