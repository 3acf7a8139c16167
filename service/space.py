"""Disk space: what uploads may still write, expiry of unfinished ones, full-disk answers.

The free space an upload creation is checked against is the disk's free space
*less every unfinished upload's remaining bytes* (all teams): bytes already
promised are not free. An unfinished upload is deleted ``upload_expiry_h``
after its creation; its row stays, ``rejected`` with the reason, so its team
sees what happened to it.
"""

from __future__ import annotations

import errno
import logging
import shutil

from fastapi import HTTPException

from poppyscan.service import records
from poppyscan.service.store import DataDir, ServiceSettings, connect, now, transaction

__all__ = ["check_room", "expire_uploads", "free_bytes", "is_disk_full"]

log = logging.getLogger("poppyscan.service")
NEARLY_FULL = 16 << 20  # under this, SQLite's I/O errors are taken for a full disk


def free_bytes(data: DataDir) -> int:
    """Free bytes on the data folder's filesystem (one place, so tests can shrink the disk)."""
    return shutil.disk_usage(data.root).free


def is_disk_full(err: BaseException, data: DataDir | None = None) -> bool:
    """True for 'no space left' from the OS or SQLite (whose write errors on a full disk often
    read only 'disk I/O error': then the data folder's free space decides)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "database or disk is full" in str(err):
        return True
    return data is not None and "disk I/O error" in str(err) and free_bytes(data) < NEARLY_FULL


def check_room(con, data: DataDir, settings: ServiceSettings, team_id: str, team: str,
               length: int) -> None:
    """Refuse a new upload of ``length`` bytes: 413 over quota, 429 too many open, 507 no room."""
    used, open_now = records.team_usage(con, team_id)
    if used + length > settings.team_quota_bytes:
        raise HTTPException(413, f"team {team} would use {used + length:,} bytes, over "
                                 f"its quota of {settings.team_quota_bytes:,}")
    if open_now >= settings.max_open_uploads:
        raise HTTPException(429, f"team {team} has {open_now} unfinished uploads, the most it may "
                                 "hold: finish or delete one first")
    free, promised = free_bytes(data), records.reserved_bytes(con)
    if free - promised - length < settings.min_free_bytes:
        raise HTTPException(507, f"the server has {free:,} bytes free, {promised:,} of them "
                                 f"promised to unfinished uploads; this file needs {length:,} "
                                 f"and {settings.min_free_bytes:,} must stay free")


def expire_uploads(data: DataDir, settings: ServiceSettings) -> int:
    """Delete unfinished uploads older than ``upload_expiry_h``; how many."""
    cutoff = now() - settings.upload_expiry_h * 3600
    con = connect(data)
    try:
        with transaction(con):
            stale = records.expired_uploads(con, cutoff)
            for file_id in stale:  # bytes first: a full disk must not keep them
                shutil.rmtree(data.file_dir(file_id), ignore_errors=True)
            records.reject_files(con, stale, f"expired: not finished within "
                                 f"{settings.upload_expiry_h:g} h of its start; its bytes were "
                                 "deleted, upload the file again")
    finally:
        con.close()
    if stale:
        log.warning("expired %d unfinished upload(s)", len(stale))
    return len(stale)
