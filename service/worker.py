"""A detection worker: claims jobs from the queue and runs them, one at a time.

``python -m poppyscan.service.worker --data DIR`` (``poppyscan serve`` starts
one per GPU, or ``--workers N``). A job runs :func:`poppyscan.api.detect` into
its own folder, so a job taken over after a kill resumes from the detection
journal there; then it records the run in the team's registry and writes the
mission's field package (both safe to repeat). Progress goes to the job's row
after every finished chip block (:class:`JobProgress`), a heartbeat thread
keeps the lease, and a cancel or a lost lease stops the run at the next block.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
from contextlib import contextmanager

from poppyscan.service import records
from poppyscan.service.gdal_env import WORKER_SKIPPED, apply_gdal_env
from poppyscan.service.intake import TIFF_MAGIC
from poppyscan.service.jobs import claim, finish, new_owner, report
from poppyscan.service.store import (
    DEFAULT_SETTINGS,
    DataDir,
    ServiceSettings,
    connect,
    public_text,
)

__all__ = ["JobProgress", "Worker", "main"]

log = logging.getLogger("poppyscan.service")


class JobStopped(Exception):
    """The job was cancelled, or another worker took it over: stop at once, publish nothing."""


class JobProgress:
    """``poppyscan.api.detect``'s progress object for one job: chips, stage and ETA in its row.

    ``start`` and stage changes are kept here and written by the heartbeat;
    ``advance`` (after each journalled block) writes at once and stops the run
    when the job was cancelled or taken over.
    """

    def __init__(self, data: DataDir, job_id: str, owner: str, lease_s: float,
                 chips_before: int = 0) -> None:
        self.data, self.job_id, self.owner, self.lease_s = data, job_id, owner, lease_s
        self.fields = {"stage": "starting", "chips_done": chips_before}
        self.before, self.started = chips_before, time.monotonic()
        self.stopped: str | None = None
        self._lock = threading.Lock()

    def start(self, total: int | None) -> None:
        self.fields.update(stage="detecting", chips_total=total)
        self.started = time.monotonic()

    def source(self, label: str, index: int, count: int) -> None:
        self.fields["stage"] = f"detecting {label} ({index}/{count})"

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.fields["chips_done"] += n
        self.fields["eta_s"] = self._eta_s()
        self.write()
        if self.stopped:
            raise JobStopped(self.stopped)

    def stage(self, name: str) -> None:
        self.fields.update(stage=name, eta_s=None)
        self.write()
        if self.stopped:
            raise JobStopped(self.stopped)

    def write(self) -> None:
        """Renew the lease with the current figures; note a cancel or a lost lease."""
        with self._lock:
            con = connect(self.data)
            try:
                ours, cancel = report(con, self.job_id, self.owner, self.lease_s, **self.fields)
            finally:
                con.close()
        if not ours:
            self.stopped = "taken over by another worker"
        elif cancel:
            self.stopped = "cancelled"

    def _eta_s(self) -> float | None:
        done, total = self.fields["chips_done"] - self.before, self.fields.get("chips_total")
        elapsed = time.monotonic() - self.started
        if not total or done <= 0:
            return None
        return round((total - self.fields["chips_done"]) * elapsed / done, 1)

    @contextmanager
    def heartbeat(self):
        """Write every ``lease_s / 4`` seconds (at most 2 s) while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(self.lease_s / 4, 2.0)):
                self.write()

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.job_id[:8]}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()


class Worker:
    """Claims and runs jobs of one data directory with one model on one device."""

    def __init__(self, data: DataDir, *, model=None, device: str | None = None,
                 settings: ServiceSettings = DEFAULT_SETTINGS) -> None:
        import poppyscan.api as ps

        self.data, self.device, self.settings = data, device, settings
        self.bundle = ps.load_model(model)
        self.owner = new_owner()

    def run_forever(self, stop: threading.Event, *, poll_s: float = 0.5) -> None:
        while not stop.is_set():
            if not self.run_next():
                stop.wait(poll_s)

    def run_next(self) -> bool:
        """Run the next job, if any; False when the queue was empty."""
        con = connect(self.data)
        try:
            job = claim(con, self.owner, self.settings.lease_s)
        finally:
            con.close()
        if job is None:
            return False
        self.run_job(job)
        return True

    def run_job(self, job) -> None:
        from poppyscan.detect.journal import journalled_chips
        from poppyscan.errors import PoppyscanError

        out = self.data.job_dir(job["id"]) / "out"
        progress = JobProgress(self.data, job["id"], self.owner, self.settings.lease_s,
                               journalled_chips(out))
        state, error, targets = "done", None, None
        with progress.heartbeat():
            try:
                targets = self._run(job, progress)
            except JobStopped as err:
                if str(err) != "cancelled":
                    log.warning("job %s: %s", job["id"], err)
                    return
                state = "cancelled"
            except PoppyscanError as err:
                state, error = "failed", public_text(self.data, str(err))
            except Exception as err:  # noqa: BLE001 - the job fails, the worker goes on
                log.exception("job %s", job["id"])
                state, error = "failed", public_text(
                    self.data, f"internal error: {type(err).__name__}: {err}")
        con = connect(self.data)
        try:
            finish(con, job["id"], self.owner, state, error, targets)
        finally:
            con.close()

    def _run(self, job, progress: JobProgress) -> int:
        import poppyscan.api as ps
        from poppyscan.detect.export.manifest import read_run
        from poppyscan.field import select_targets, write_field_package
        from poppyscan.field.registry import record_and_name
        from poppyscan.output_folder import verify_outputs

        mission, team, paths = self._inputs(job)
        job_dir = self.data.job_dir(job["id"])
        out = job_dir / "out"
        if verify_outputs(out):  # not published yet: run (or resume) the detection
            ps.detect(paths, out, model=self.bundle, device=self.device, mission=mission,
                      progress=progress)
        progress.stage("registry")
        registry = self.data.registry(job["team_id"])
        registry.parent.mkdir(parents=True, exist_ok=True)
        # Recorded, then named: every output and page calls a plot by its registry id.
        record_and_name(registry, out, prefix=re.sub(r"[^A-Za-z0-9]", "", team)[:16] or "T")
        if select_targets(registry, mission=mission):  # else no package: nothing for crews
            progress.stage("field package")
            write_field_package(registry, job_dir / "field", mission=mission, overwrite=True)
        return int(read_run(out)["counts"]["targets"])

    def _inputs(self, job) -> tuple[str, str, list]:
        con = connect(self.data)
        try:
            mission = records.mission_and_team(con, job["mission_id"])
            ids = records.job_file_ids(con, job["id"])
            rows = records.files_by_id(con, ids)
        finally:
            con.close()
        from poppyscan.errors import ConfigError

        missing = [i for i in ids if i not in rows or rows[i]["state"] != "ready"]
        if missing:
            raise ConfigError(f"{len(missing)} of the job's files were deleted or never passed "
                              "their checks")
        paths = [self.data.file_dir(i) / rows[i]["name"] for i in ids]
        for path in paths:  # checked at intake; checked again: only TIFFs reach GDAL here
            with open(path, "rb") as handle:
                if handle.read(4) not in TIFF_MAGIC:
                    raise ConfigError(f"{path.name}: not a TIFF file any more")
        return mission["name"], mission["team"], paths


def _exit_with_parent() -> None:
    """End this process when the service that started it ends (its end of our stdin closes)."""
    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m poppyscan.service.worker")
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--lease-s", type=float, default=ServiceSettings.lease_s)
    parser.add_argument("--with-parent", action="store_true",
                        help="exit when standard input closes (the service ended)")
    args = parser.parse_args(argv)
    apply_gdal_env(WORKER_SKIPPED)
    logging.basicConfig(level=logging.WARNING, format="worker %(process)d: %(message)s")
    logging.getLogger("poppyscan").setLevel(logging.INFO)
    if args.with_parent:
        _exit_with_parent()
    worker = Worker(DataDir(args.data), model=args.model, device=args.device,
                    settings=ServiceSettings(lease_s=args.lease_s))
    worker.run_forever(threading.Event())


if __name__ == "__main__":
    main()
