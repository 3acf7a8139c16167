"""``poppyscan backup --data DIR OUT``: a consistent copy of the service's state and registries.

SQLite's online backup copies ``state.sqlite`` and each team's
``registry.gpkg`` page by page under a read transaction, so a service that
keeps running meanwhile still leaves a consistent copy of each. The token key
(``secret.key``) is copied too: without it no API token would verify. Uploads
and run folders are large, written once and named by id: copy ``files/`` and
``jobs/`` with any file tool (the README's "Backup and restore").
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from poppyscan.errors import ConfigError, OutputError
from poppyscan.service.store import DataDir, check_state, is_id

__all__ = ["backup"]


def backup(data: DataDir, out: Path) -> list[Path]:
    """Copy the state, the key and every team registry of ``data`` into new folder ``out``."""
    if not data.db.is_file():
        raise ConfigError(f"{data.root}: no service data folder (no state.sqlite)")
    check_state(data)
    if out.exists():
        raise OutputError(f"{out}: exists already; back up into a new folder")
    out.mkdir(parents=True)
    copied = [_copy_db(data.db, out / "state.sqlite")]
    key = data.root / "secret.key"
    if key.exists():
        shutil.copy2(key, out / "secret.key")
        copied.append(out / "secret.key")
    for registry in sorted((data.root / "teams").glob("*/registry.gpkg")):
        if is_id(registry.parent.name):
            copied.append(_copy_db(registry, out / "teams" / registry.parent.name /
                                   "registry.gpkg"))
    return copied


def _copy_db(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target
