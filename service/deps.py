"""What every route depends on: a database connection, the caller, and the caller's own objects.

:func:`owned` is the one place an id from a request is turned into a row: it
looks the id up *with the caller's team*, so another team's id, a malformed id
and a missing one all answer the same 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from poppyscan.service.auth import SESSION_COOKIE, User, user_from_session, user_from_token
from poppyscan.service.store import DataDir, ServiceSettings, connect, is_id

__all__ = ["Caller", "Db", "data_of", "owned", "settings_of"]

_TABLES = {"mission": "missions", "file": "files", "job": "jobs"}


def data_of(request: Request) -> DataDir:
    return request.app.state.data


def settings_of(request: Request) -> ServiceSettings:
    return request.app.state.settings


DAMAGED = ("the service's state database cannot be used; the administrator must check it "
           "(poppyscan serve says how)")


def get_db(request: Request) -> Iterator:
    """A connection for one request; 503 while the database is known to be damaged."""
    if getattr(request.app.state, "damaged", None):
        raise HTTPException(503, DAMAGED)
    con = connect(data_of(request))
    try:
        yield con
    finally:
        con.close()


Db = Annotated[object, Depends(get_db)]


def caller(request: Request, con: Db) -> User:
    """The authenticated user: ``Authorization: Bearer <token>`` or the session cookie; else 401."""
    header = request.headers.get("authorization", "")
    user = None
    if header:
        scheme, _, token = header.partition(" ")
        user = (user_from_token(con, data_of(request), token.strip())
                if scheme.lower() == "bearer" else None)
    elif request.cookies.get(SESSION_COOKIE):
        user = user_from_session(con, request.cookies[SESSION_COOKIE])
        if user is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
            _same_origin(request)
    if user is None:
        raise HTTPException(401, "log in, or send an API token as 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


Caller = Annotated[User, Depends(caller)]


def _same_origin(request: Request) -> None:
    """A cookie-authenticated change must come from this site's own pages (with SameSite=Strict)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise HTTPException(403, "cross-site request refused")


def owned(con, kind: str, object_id: str, user: User):
    """The row of ``kind`` (mission, file, job) ``object_id`` in the caller's team; else 404."""
    if not is_id(object_id):
        raise HTTPException(404, f"no such {kind}")
    row = con.execute(f"SELECT * FROM {_TABLES[kind]} WHERE id = ? AND team_id = ?",
                      (object_id, user.team_id)).fetchone()
    if row is None:
        raise HTTPException(404, f"no such {kind}")
    return row
