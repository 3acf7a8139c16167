"""Output folders that never lie: complete, or the previous run's outputs untouched.

A run writes its outputs into a staging folder *inside* the output folder (so
the final moves are renames on one filesystem, whatever ``--out`` is mounted
on), then publishes them: the old manifest goes first, the new files are
renamed in, and the new manifest (``run.json``, listing every file with its
sha256) comes last. A folder is complete exactly when its manifest is present
and matches (:func:`verify_outputs`). A kill during publishing leaves a marker;
the next run into the folder finishes the job before doing anything else, and
removes staging leftovers. A lock file keeps two runs out of one folder.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from poppyscan.errors import OutputError

__all__ = ["OutputFolder", "output_error", "verify_outputs"]

STATE_DIR = ".poppyscan"  # the run's own files: lock, journal, staging, publishing marker
MIN_FREE_BYTES = 64 << 20


class OutputFolder:
    """An output folder (``out``) whose published files are ``outputs`` and ``manifest``."""

    def __init__(self, out: str | os.PathLike, outputs: Iterable[str], *,
                 manifest: str = "run.json") -> None:
        self.out = Path(out)
        self.outputs = tuple(outputs)
        self.manifest = manifest
        self.state = self.out / STATE_DIR

    @contextmanager
    def open(self, *, min_free_bytes: int = MIN_FREE_BYTES) -> Iterator[OutputFolder]:
        """Check the folder can take the outputs, lock it, finish an interrupted publish."""
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            probe = self.state / f"probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"poppyscan")
            probe.unlink()
        except OSError as err:
            raise output_error(self.out, err, "cannot be written") from None
        free = shutil.disk_usage(self.state).free
        if free < min_free_bytes:
            raise OutputError(f"{self.out}: only {free >> 20} MiB free, the run needs about "
                              f"{min_free_bytes >> 20} MiB; free space or pick another --out")
        with _locked(self.state / "lock", self.out):
            self._recover()
            yield self

    def has_outputs(self) -> list[str]:
        """Names of published (or half-published) outputs already in the folder."""
        return [name for name in (*self.outputs, self.manifest) if (self.out / name).exists()]

    def staging(self) -> Path:
        """A fresh staging folder inside the output folder."""
        path = self.state / f"staging-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def publish(self, staging: Path) -> None:
        """Move ``staging``'s files in, the manifest last; ``staging`` must hold the manifest."""
        if not (staging / self.manifest).is_file():
            raise ValueError(f"{staging}: no {self.manifest}; refusing to publish")
        marker = self.state / "publishing"
        marker.write_text(json.dumps({"staging": staging.name}))
        self._move_in(staging)
        marker.unlink()

    def _move_in(self, staging: Path) -> None:
        (self.out / self.manifest).unlink(missing_ok=True)  # from here on: visibly incomplete
        trash = self.state / "trash"
        staged = sorted(item.name for item in staging.iterdir() if item.name != self.manifest)
        for name in staged:
            _replace(staging / name, self.out / name, trash)
        for name in set(self.outputs) - set(staged) - {self.manifest}:  # old ones not rewritten
            if (self.out / name).exists():
                _replace(None, self.out / name, trash)
        os.replace(staging / self.manifest, self.out / self.manifest)
        shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)

    def _recover(self) -> None:
        """Finish a publish a kill interrupted; remove staging folders nobody will publish."""
        marker = self.state / "publishing"
        if marker.exists():
            staging = self.state / json.loads(marker.read_text())["staging"]
            if (staging / self.manifest).is_file():
                self._move_in(staging)
            marker.unlink()
        for leftover in self.state.glob("staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.state / "trash", ignore_errors=True)


def _replace(src: Path | None, dest: Path, trash: Path) -> None:
    """Put ``src`` at ``dest`` (None: just remove ``dest``); a folder goes to ``trash`` first."""
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(dest, trash)  # a folder cannot be renamed over a full one
    elif src is None and dest.exists():
        dest.unlink()
    if src is not None:
        os.replace(src, dest)


def verify_outputs(out: str | os.PathLike, manifest: str = "run.json") -> list[str]:
    """Problems that make ``out`` untrustworthy (empty list: complete and unchanged).

    Readers should trust a run folder only when this is empty: the manifest is
    present and every file it lists has its recorded size and sha256.
    """
    from poppyscan.provenance import sha256_file

    out = Path(out)
    path = out / manifest
    if not path.is_file():
        return [f"{path}: missing: the run did not finish publishing"]
    try:
        records = json.loads(path.read_bytes()).get("outputs", [])
        files = [out / record["path"] for record in records]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return [f"{path}: damaged, its list of outputs unreadable ({type(err).__name__})"]
    problems = []
    for record, file in zip(records, files, strict=True):
        if not file.is_file():
            problems.append(f"{file}: listed in {manifest} but missing")
        elif file.stat().st_size != record["bytes"] or sha256_file(file) != record["sha256"]:
            problems.append(f"{file}: differs from the copy {manifest} lists")
    return problems


def output_error(out: Path, err: OSError, doing: str, advice: str = "") -> OutputError:
    """One clear line for an OS error on an output folder: what failed, why, what to do."""
    reason = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
              errno.EACCES: "permission denied", errno.EPERM: "permission denied"}.get(
        err.errno, err.strerror or str(err))
    return OutputError(f"{out}: {doing} ({reason})" + (f"; {advice}" if advice else ""))


@contextmanager
def _locked(lock_path: Path, out: Path) -> Iterator[None]:
    """An exclusive advisory lock, released when the process ends however it ends."""
    import fcntl

    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(f"{out}: another poppyscan run ({holder}) is writing here; wait for "
                              "it or pick another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
