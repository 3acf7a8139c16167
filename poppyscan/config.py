"""Layered configuration: built-in defaults, then ``configs/*.yaml``, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tiles.errors import ConfigError

__all__ = ["CONFIG_DIR", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def load_config(name: str, path: str | os.PathLike | None = None, **overrides: Any) -> dict:
    """Read ``configs/<name>.yaml`` (or ``path``), then apply non-None ``overrides``."""
    source = Path(path) if path else CONFIG_DIR / f"{name}.yaml"
    config: dict = {}
    if source.exists():
        try:
            config = yaml.safe_load(source.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
        if not isinstance(config, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(config).__name__}")
    elif path:
        raise ConfigError(f"{source}: no such config file")
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config
