"""Atomic file output: never leave a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_bytes", "check_outputs_free"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps the target's suffix (GDAL drivers pick the format
    from it). On any exception the temporary file is removed and ``path`` is
    left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
    )
    os.close(fd)
    os.unlink(tmp)  # let the writer create it: some GDAL drivers refuse an existing file
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def check_outputs_free(out_dir: str | os.PathLike, names: Iterable[str], overwrite: bool) -> None:
    """Refuse to replace existing outputs ``names`` in ``out_dir`` unless ``overwrite``."""
    from poppyscan.errors import ConfigError

    existing = [name for name in names if (Path(out_dir) / name).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{out_dir}: already holds {', '.join(existing)}; pass --overwrite to replace"
        )
