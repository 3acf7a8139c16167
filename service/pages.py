"""The browser side: log in and out, and the three pages (missions, a mission, log in).

Pages are static HTML and scripts (:file:`static/`); data comes from the JSON
API. A page asked for without a session goes to the login page, which returns
to it afterwards (only to a path on this site).
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from poppyscan.service.auth import (
    SESSION_COOKIE,
    User,
    check_password,
    login,
    logout,
    user_from_session,
)
from poppyscan.service.deps import Db, owned, settings_of

__all__ = ["STATIC", "router"]

STATIC = Path(__file__).parent / "static"
router = APIRouter()


class Credentials(BaseModel):
    name: str
    password: str


@router.post("/api/session", status_code=204)
def open_session(body: Credentials, request: Request, con: Db) -> Response:
    throttle = request.app.state.throttle
    keys = (f"user:{body.name}", f"addr:{request.client.host if request.client else '-'}")
    wait_s = throttle.wait_s(*keys)
    if wait_s > 0:  # refused before any password hash is computed
        raise HTTPException(429, f"too many failed log-ins: try again in {math.ceil(wait_s)} s",
                            headers={"Retry-After": str(math.ceil(wait_s))})
    user = check_password(con, body.name, body.password)
    if user is None:
        throttle.failed(*keys)
        raise HTTPException(401, "wrong user name or password")
    throttle.succeeded(*keys)
    response = Response(status_code=204)
    hours = settings_of(request).session_hours
    response.set_cookie(SESSION_COOKIE, login(con, user, hours), max_age=int(hours * 3600),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")
    return response


@router.delete("/api/session", status_code=204)
def close_session(request: Request, con: Db) -> Response:
    if request.cookies.get(SESSION_COOKIE):
        logout(con, request.cookies[SESSION_COOKIE])
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/login")
def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html")


@router.get("/")
def missions_page(request: Request, con: Db) -> Response:
    return _page(request, con, "index.html")


@router.get("/missions/{mission_id}")
def mission_page(mission_id: str, request: Request, con: Db) -> Response:
    return _page(request, con, "mission.html", ("mission", mission_id))


@router.get("/jobs/{job_id}/field")
def field_link(job_id: str, request: Request, con: Db) -> Response:
    """The QR code's target: after logging in, the package download."""
    user = _session_user(request, con)
    if user is None:
        return _to_login(request)
    owned(con, "job", job_id, user)
    return RedirectResponse(f"/api/jobs/{job_id}/field.zip", status_code=303)


def _page(request: Request, con, name: str, owned_by: tuple[str, str] | None = None) -> Response:
    user = _session_user(request, con)
    if user is None:
        return _to_login(request)
    if owned_by is not None:
        owned(con, *owned_by, user)
    return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})


def _session_user(request: Request, con) -> User | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return user_from_session(con, cookie) if cookie else None


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
