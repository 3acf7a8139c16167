"""Missions, their files and jobs: the JSON API the pages and ``poppyscan upload`` use."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel

from poppyscan.service import records
from poppyscan.service.deps import Caller, Db, owned
from poppyscan.service.jobs import cancel, enqueue, job_view
from poppyscan.service.store import new_id, transaction

__all__ = ["router"]

router = APIRouter(prefix="/api")
_MISSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class NewMission(BaseModel):
    name: str


class NewJob(BaseModel):
    file_ids: list[str] | None = None  # default: every ready file of the mission


@router.get("/me")
def me(user: Caller) -> dict:
    return {"name": user.name, "team": user.team}


@router.get("/missions")
def missions(user: Caller, con: Db) -> list[dict]:
    return [_mission(con, row) for row in records.team_missions(con, user.team_id)]


@router.post("/missions", status_code=201)
def create_mission(body: NewMission, user: Caller, con: Db) -> dict:
    """A new mission; its name starts target ids (``NAME-0001``), so letters, digits, ``_``, ``-``."""
    if not _MISSION_NAME.fullmatch(body.name):
        raise HTTPException(422, "mission name: 1-32 letters, digits, '_' or '-', starting with a "
                                 "letter or digit")
    with transaction(con):
        if records.mission_named(con, user.team_id, body.name):
            raise HTTPException(409, f"mission {body.name} exists already")
        mission_id = new_id()
        records.add_mission(con, mission_id, user.team_id, body.name)
    return _mission(con, owned(con, "mission", mission_id, user))


@router.get("/missions/{mission_id}")
def mission(mission_id: str, user: Caller, con: Db) -> dict:
    return _mission(con, owned(con, "mission", mission_id, user))


@router.get("/missions/{mission_id}/files")
def mission_files(mission_id: str, user: Caller, con: Db) -> list[dict]:
    owned(con, "mission", mission_id, user)
    return [_file(row) for row in records.mission_files(con, mission_id, user.team_id)]


@router.get("/files/{file_id}")
def file(file_id: str, user: Caller, con: Db) -> dict:
    return _file(owned(con, "file", file_id, user))


@router.get("/missions/{mission_id}/jobs")
def mission_jobs(mission_id: str, user: Caller, con: Db) -> list[dict]:
    owned(con, "mission", mission_id, user)
    return [job_view(row) for row in records.mission_jobs(con, mission_id, user.team_id)]


@router.post("/missions/{mission_id}/jobs", status_code=201)
def start_job(mission_id: str, user: Caller, con: Db, body: NewJob | None = None) -> dict:
    """Queue detection over the mission's files (all ready ones, or ``file_ids``)."""
    owned(con, "mission", mission_id, user)
    ready = records.ready_file_ids(con, mission_id, user.team_id)
    wanted = ready if body is None or body.file_ids is None else body.file_ids
    if not wanted or any(f not in ready for f in wanted):
        raise HTTPException(409, "no such ready file in this mission" if wanted else
                                 "the mission has no checked orthomosaic yet")
    job_id = enqueue(con, user.team_id, mission_id, list(dict.fromkeys(wanted)))
    return job_view(owned(con, "job", job_id, user))


@router.get("/jobs/{job_id}")
def job(job_id: str, user: Caller, con: Db) -> dict:
    return job_view(owned(con, "job", job_id, user))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, user: Caller, con: Db) -> dict:
    cancel(con, owned(con, "job", job_id, user))
    return job_view(owned(con, "job", job_id, user))


@router.delete("/missions/{mission_id}", status_code=204)
def delete_mission(mission_id: str, user: Caller, con: Db) -> Response:
    """Only an empty mission (no files, no jobs) can be deleted."""
    owned(con, "mission", mission_id, user)
    with transaction(con):
        if records.mission_in_use(con, mission_id):
            raise HTTPException(409, "the mission has files or jobs")
        records.delete_mission(con, mission_id)
    return Response(status_code=204)


def _mission(con, row) -> dict:
    last, done_id = records.last_jobs(con, row["id"])
    return {"id": row["id"], "name": row["name"], "created_at": row["created_at"],
            "last_job": job_view(last) if last else None, "result_job_id": done_id}


def _file(row) -> dict:
    return {"id": row["id"], "mission_id": row["mission_id"], "name": row["name"],
            "length": row["length"], "offset": row["offset"], "state": row["state"],
            "error": row["error"], "bounds": json.loads(row["bounds"]) if row["bounds"] else None}
