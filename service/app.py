"""The web app: every router behind the team checks, static pages, and security headers.

Every response carries ``Content-Security-Policy: default-src 'self'`` (the
pages load scripts, styles, tiles and images from this server only: no
basemap, CDN or font service learns where a team works), plus ``nosniff``,
``no-referrer`` and no framing. Only the run report gets the narrower policy
of :data:`~poppyscan.service.api_results.REPORT_CSP`.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from poppyscan.service import api_missions, api_registry, api_results, pages, tus
from poppyscan.service.intake import IntakeChecks, recheck_pending
from poppyscan.service.store import DEFAULT_SETTINGS, DataDir, ServiceSettings

__all__ = ["CSP", "create_app"]

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
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
        threading.Thread(target=recheck_pending, args=(data, checks), daemon=True).start()
        yield

    app = FastAPI(title="poppyscan", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.data, app.state.settings, app.state.checks = data, settings, checks
    for module in (pages, api_missions, api_results, api_registry, tus):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    return app


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
