"""The web app: every router behind the team checks, static pages, and security headers.

Every response carries ``Content-Security-Policy: default-src 'self'`` (the
pages load scripts, styles, tiles and images from this server only: no
basemap, CDN or font service learns where a team works), plus ``nosniff``,
``no-referrer`` and no framing. Only the run report gets the narrower policy
of :data:`~poppyscan.service.api_results.REPORT_CSP`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State

from poppyscan.errors import ConfigError
from poppyscan.service import api_missions, api_registry, api_results, pages, tus
from poppyscan.service.deps import DAMAGED
from poppyscan.service.intake import IntakeChecks, recheck_pending
from poppyscan.service.space import expire_uploads, is_disk_full
from poppyscan.service.store import (
    DEFAULT_SETTINGS,
    DataDir,
    ServiceSettings,
    check_state,
    connect,
)
from poppyscan.service.throttle import LoginThrottle

__all__ = ["CSP", "check_for_damage", "create_app"]

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
HOUSEKEEPING_S = 300.0
log = logging.getLogger("poppyscan.service")
SECURITY_HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
}


def create_app(data_dir: str | Path, *, model=None,
               settings: ServiceSettings = DEFAULT_SETTINGS) -> FastAPI:
    """The service's app over ``data_dir`` (created when new); ``model``: bundle for the checks."""
    import poppyscan.api as ps

    data = DataDir(data_dir).create()
    checks = IntakeChecks(ps.load_model(model).grid,
                          float(ps.default_settings("detect")["max_gsd_ratio"]),
                          settings.preview_max_px)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        threading.Thread(target=_housekeeping, args=(app.state, stop), name="housekeeping",
                         daemon=True).start()
        yield
        stop.set()

    app = FastAPI(title="poppyscan", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.data, app.state.settings, app.state.checks = data, settings, checks
    # Held open for the app's life: SQLite keeps the WAL index (-shm) while a connection is open,
    # and on a full disk a first connection could not make it again, so not even read.
    app.state.keeper = connect(data)
    app.state.throttle = LoginThrottle()
    app.state.damaged = None  # set once damage is seen: every request then answers 503
    for module in (pages, api_missions, api_results, api_registry, tus):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.add_exception_handler(sqlite3.DatabaseError, _database_error)
    app.add_exception_handler(OSError, _os_error)
    app.add_middleware(SecurityHeaders)
    return app


def _housekeeping(state: State, stop: threading.Event) -> None:
    """Recheck half-checked uploads once; then, every few minutes, look for damage in the state
    database and expire unfinished uploads."""
    try:
        recheck_pending(state.data, state.checks, state.settings)
    except Exception as err:  # noqa: BLE001 - logged in one line; the service keeps answering
        log.error("rechecking pending uploads failed: %s", err)
    while True:
        check_for_damage(state)
        try:
            expire_uploads(state.data, state.settings)
        except Exception as err:  # noqa: BLE001 - same
            log.error("expiring unfinished uploads failed: %s", err)
        if stop.wait(HOUSEKEEPING_S):
            return


def check_for_damage(state: State) -> None:
    """``PRAGMA quick_check`` of the running service's database; damage stops every request."""
    if state.damaged is None:
        try:
            check_state(state.data)
        except ConfigError as err:
            state.damaged = str(err)
            log.error("%s", err)


def _database_error(request: Request, err: Exception) -> JSONResponse:
    """A database that cannot be used answers 507 (full) or 503 with what happened, never 500."""
    if is_disk_full(err, request.app.state.data):
        log.warning("disk full on %s %s", request.method, request.url.path, exc_info=err)
        return _full()
    if "locked" in str(err):
        return JSONResponse({"detail": "the service is busy; retry in a minute"}, status_code=503)
    log.error("state database error on %s %s: %s", request.method, request.url.path, err)
    if "malformed" in str(err) or "not a database" in str(err):
        request.app.state.damaged = str(err)  # no more reads or writes until it is restored
    return JSONResponse({"detail": DAMAGED}, status_code=503)


def _os_error(request: Request, err: Exception) -> JSONResponse:
    if is_disk_full(err, request.app.state.data):
        log.warning("disk full on %s %s", request.method, request.url.path, exc_info=err)
        return _full()
    log.error("%s %s failed: %s", request.method, request.url.path, type(err).__name__)
    return JSONResponse({"detail": "the server could not read or write its files"},
                        status_code=500)


def _full() -> JSONResponse:
    return JSONResponse({"detail": "the server's disk is full: delete unfinished uploads or ask "
                                   "the administrator to free space"}, status_code=507)


class SecurityHeaders:
    """ASGI middleware: add :data:`SECURITY_HEADERS` to every response that does not set its own."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
