"""The review page: a small local web server over a :class:`~poppyscan.field.review.Review`.

Standard library only (``http.server``), bound to 127.0.0.1, no network and
no CDN: the page, its script and its style are inline. Requests naming another
host are refused (a web page elsewhere cannot drive it through DNS rebinding).

Routes: ``GET /`` the page; ``GET /api/targets``; ``GET /view/<id>/<near|far>``
a JPEG; ``POST /api/decide`` ``{"target_id", "decision"}``; ``POST /api/apply``
rewrites the field outputs (and the registry, when one was given).
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from poppyscan.errors import PoppyscanError
from poppyscan.field.review import Review
from poppyscan.field.review_page import PAGE

__all__ = ["make_server"]

HOST = "127.0.0.1"
MAX_BODY = 4096


def make_server(review: Review, *, port: int = 0, registry: str | Path | None = None
                ) -> ThreadingHTTPServer:
    """A server for ``review`` on 127.0.0.1:``port`` (0: any free port); call ``serve_forever``."""
    lock = threading.Lock()  # one decision or rewrite at a time

    class Handler(_Handler):
        pass

    Handler.review, Handler.registry, Handler.lock = review, registry, lock
    return ThreadingHTTPServer((HOST, port), Handler)


class _Handler(BaseHTTPRequestHandler):
    review: Review
    registry: str | Path | None
    lock: threading.Lock
    server_version = "poppyscan-review"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the terminal shows what the command prints

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._local():
            return
        if self.path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
        elif self.path == "/api/targets":
            self._json(HTTPStatus.OK, self._state())
        elif self.path.startswith("/view/"):
            parts = self.path.split("/")
            try:
                path = self.review.view(parts[2], parts[3]) if len(parts) == 4 else None
            except PoppyscanError:
                path = None
            if path is None or not path.is_file():
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such view {self.path}"})
            else:
                self._send(HTTPStatus.OK, "image/jpeg", path.read_bytes())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._local():
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            with self.lock:
                if self.path == "/api/decide":
                    self.review.decide(str(body.get("target_id")), str(body.get("decision")))
                    self._json(HTTPStatus.OK, self._state())
                elif self.path == "/api/apply":
                    done = self.review.apply(self.registry)
                    self._json(HTTPStatus.OK, {**self._state(), "applied": {
                        "kept": done.kept, "rejected": done.rejected, "unsure": done.unsure,
                        "rejected_file": done.rejected_path.name,
                        "verdicts_applied": done.verdicts_applied}})
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no such action {self.path}"})
        except (PoppyscanError, ValueError) as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})

    def _state(self) -> dict:
        review = self.review
        return {
            "run": review.run_dir.name, "counts": review.counts(),
            "registry": str(self.registry) if self.registry else None,
            "targets": [{"target_id": t.target_id, "run_target_id": t.run_target_id,
                         "rank": t.rank, "conf": t.conf,
                         "area_m2": t.area_m2, "lat": t.lat, "lon": t.lon,
                         "sources": list(t.sources), "decision": review.decision(t.target_id)}
                        for t in review.targets],
        }

    def _local(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host in (HOST, "localhost"):
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": "the review page answers on 127.0.0.1 only"})
        return False

    def _json(self, status: HTTPStatus, data: dict) -> None:
        self._send(status, "application/json", json.dumps(data).encode())

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
