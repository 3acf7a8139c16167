"""A real ``poppyscan serve`` on a free loopback port, for the tests that need processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env(cache: Path) -> dict:
    return {**os.environ, "YOLO_OFFLINE": "1", "POPPYSCAN_CACHE": str(cache)}


def add_user(data: Path, name: str, team: str) -> tuple[str, str]:
    """(password, token) printed by ``poppyscan users add``."""
    done = subprocess.run([sys.executable, "-m", "poppyscan", "users", "add", name, "--team", team,
                           "--data", str(data)], capture_output=True, text=True, check=True)
    lines = {k.strip(): v.strip() for k, _, v in
             (line.partition(":") for line in done.stdout.splitlines()[1:])}
    return lines["password"], lines["token"]


class LiveService:
    """``poppyscan serve --data DATA`` in a subprocess, until :meth:`stop` (or a kill)."""

    def __init__(self, data: Path, cache: Path, *, model: Path | None, workers: int = 1) -> None:
        self.data, self.port = data, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "poppyscan", "serve", "--data", str(data), "--port",
                str(self.port), "--workers", str(workers), "--device", "cpu"]
        if model is not None:
            args += ["--model", str(model)]
        self.log = open(data.parent / f"serve-{self.port}.log", "w")
        self.proc = subprocess.Popen(args, env=env(cache), stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):  # up to a minute to start
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {Path(self.log.name).read_text()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("serve did not start within a minute")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
