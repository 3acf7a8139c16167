"""Import Ultralytics fully offline, with its config inside poppyscan's cache.

Must run before the first ``import ultralytics``: Ultralytics reads these
variables at import time (settings file, online checks, font downloads).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "configure_offline"]


def cache_dir() -> Path:
    """poppyscan's cache: ``$POPPYSCAN_CACHE`` or ``$XDG_CACHE_HOME/poppyscan``."""
    env = os.environ.get("POPPYSCAN_CACHE")
    base = (
        Path(env)
        if env
        else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "poppyscan"
    )
    base.mkdir(parents=True, exist_ok=True)
    return base


def configure_offline() -> None:
    """Keep Ultralytics from touching the network or the user's home config."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
