"""Import Ultralytics fully offline, with its config inside poppyscan's cache.

Must run before the first ``import ultralytics``: Ultralytics reads these
variables at import time (settings file, online checks, font downloads).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from poppyscan.errors import ConfigError

__all__ = ["cache_dir", "configure_offline", "require_train_extra"]

TRAIN_EXTRA = ("torch", "ultralytics")  # what `poppyscan[train]` adds to the base install


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


def require_train_extra(what: str = "this") -> None:
    """One line naming the extra to install when PyTorch or Ultralytics is missing.

    The base install detects with OpenVINO or ONNX Runtime and leaves them out.
    """
    missing = [name for name in TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"{what} needs {' and '.join(missing)}, which the base install leaves "
                          "out: pip install 'poppyscan[train]'")


def configure_offline(what: str = "this") -> None:
    """Keep Ultralytics from touching the network or the user's home config.

    Called before every import of Ultralytics or PyTorch: without them (the base
    install), a :class:`~poppyscan.errors.ConfigError` says which extra to install.
    """
    require_train_extra(what)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
