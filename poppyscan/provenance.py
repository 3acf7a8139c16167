"""Provenance stamps: the checksum of a file and the time of a run, each written one way."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

__all__ = ["sha256_file", "utc_now"]

_BLOCK_BYTES = 1 << 20  # 1 MiB: constant memory on multi-GB orthomosaics


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha256_file(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """Current time as ISO 8601 UTC to the second, e.g. ``2026-11-22T11:00:00Z``.

    >>> len(utc_now()), utc_now()[-1]
    (20, 'Z')
    """
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
