"""``poppyscan serve``: the web app and its detection workers, started and stopped together.

The web app runs in this process (uvicorn); each worker is a child process
(:mod:`.worker`) whose standard input is a pipe from here, so workers end
when the service ends, however it ends. A worker that dies is started again
(at most :data:`MAX_RESTARTS` times a minute); its job is taken over from the
detection journal.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from poppyscan.service.gdal_env import WORKER_SKIPPED, apply_gdal_env
from poppyscan.service.store import DEFAULT_SETTINGS, ServiceSettings

__all__ = ["serve", "worker_devices"]

MAX_RESTARTS = 5
log = logging.getLogger("poppyscan.service")


def worker_devices(workers: int | None, device: str | None) -> list[str | None]:
    """One device per worker: a GPU each when there are several and ``device`` is auto or cuda.

    >>> worker_devices(2, "cpu")
    ['cpu', 'cpu']
    """
    if device not in (None, "auto", "cuda"):
        return [device] * (workers or 1)
    gpus = _cuda_devices()
    if workers is None:
        workers = max(1, gpus)
    return [f"cuda:{i % gpus}" if gpus > 1 else device for i in range(workers)]


def _cuda_devices() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def serve(data_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          workers: int | None = None, model: str | None = None, device: str | None = None,
          settings: ServiceSettings = DEFAULT_SETTINGS, echo=print) -> None:
    """Run the service on ``host:port`` until interrupted."""
    apply_gdal_env()  # before this process first opens a raster
    import uvicorn

    from poppyscan.service.app import create_app

    app = create_app(data_dir, model=model, settings=settings)
    devices = worker_devices(workers, device)
    pool = WorkerPool(app.state.data.root, devices, model=model, lease_s=settings.lease_s)
    echo(f"poppyscan serving http://{host}:{port} (data {app.state.data.root}, "
         f"{len(devices)} worker{'s' if len(devices) > 1 else ''}: "
         f"{', '.join(d or 'auto' for d in devices)})")
    pool.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        pool.stop()


class WorkerPool:
    """The worker processes, restarted when one dies."""

    def __init__(self, data_dir: Path, devices: list[str | None], *, model: str | None,
                 lease_s: float) -> None:
        self.data_dir, self.devices, self.model, self.lease_s = data_dir, devices, model, lease_s
        self.procs: list[subprocess.Popen | None] = [None] * len(devices)
        self.restarts: list[float] = []
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._supervise, name="workers", daemon=True)

    def start(self) -> None:
        for i in range(len(self.devices)):
            self.procs[i] = self._spawn(i)
        self._watch.start()

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _spawn(self, i: int) -> subprocess.Popen:
        args = [sys.executable, "-m", "poppyscan.service.worker", "--data", str(self.data_dir),
                "--lease-s", str(self.lease_s), "--with-parent"]
        if self.model:
            args += ["--model", str(self.model)]
        if self.devices[i]:
            args += ["--device", self.devices[i]]
        return subprocess.Popen(args, stdin=subprocess.PIPE, env=apply_gdal_env(WORKER_SKIPPED, dict(os.environ)))

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None or self._stop.is_set():
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < 60] + [now]
                if len(self.restarts) > MAX_RESTARTS:
                    log.error("worker %d keeps dying (exit %s); not restarting it", i,
                              proc.returncode)
                    self.procs[i] = None
                    continue
                log.warning("worker %d (pid %d) exited with %s; starting another", i, proc.pid,
                            proc.returncode)
                self.procs[i] = self._spawn(i)
