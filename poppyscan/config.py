"""Layered settings: the built-in defaults, then a user's YAML file, then flags or arguments.

The built-in layer ships inside the package (``configs/*.yaml``, installed as
``poppyscan.configs``) and is the one place each default is written: library
code, the Python API and the CLI's help texts all read it from here.

>>> defaults("tiling")["tile_px"]
640
>>> load_config("tiling", tile_px=320, bands=None)["tile_px"]
320
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["defaults", "load_config", "read_yaml_settings"]


def _config_error(message: str) -> Exception:
    # Imported here: poppyscan.tiles reads its defaults from this module.
    from poppyscan.errors import ConfigError

    return ConfigError(message)


def _resource(name: str):
    return resources.files("poppyscan.configs").joinpath(*f"{name}.yaml".split("/"))


@functools.cache
def _builtin(name: str) -> dict:
    ref = _resource(name)
    if not ref.is_file():
        raise _config_error(f"no built-in config named {name!r}")
    return yaml.safe_load(ref.read_text(encoding="utf-8")) or {}


def defaults(name: str) -> dict:
    """A copy of the built-in settings ``name`` (``"tiling"``, ``"train/default"``, ...)."""
    return yaml.safe_load(yaml.safe_dump(_builtin(name)))  # deep copy, plain types


def read_yaml_settings(path: str | os.PathLike) -> dict:
    """A user's YAML file of settings, as a mapping; ConfigError naming the file otherwise."""
    source = Path(path)
    if not source.is_file():
        raise _config_error(f"{source}: no such config file")
    try:
        settings = yaml.safe_load(source.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise _config_error(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(settings, dict):
        raise _config_error(f"{source}: expected a mapping of settings, got {type(settings).__name__}")
    return settings


def _user_layer(name: str, path: str | os.PathLike) -> dict:
    """A YAML file, or a preset shipped beside the built-in ``name`` (``demo`` for ``train/*``)."""
    preset = f"{name.rpartition('/')[0]}/{path}".lstrip("/")
    if not Path(path).exists() and "/" not in str(path) and not str(path).endswith(".yaml"):
        if not _resource(preset).is_file():
            raise _config_error(f"{path}: no such config file or built-in preset")
        return defaults(preset)
    return read_yaml_settings(path)


def load_config(name: str, path: str | os.PathLike | None = None, /, **overrides: Any) -> dict:
    """Built-in ``name``, then the YAML file or preset ``path`` (if any), then non-None ``overrides``.

    A key the built-in layer does not know is an error, so a typo in a user's
    file never passes silently.
    """
    config = defaults(name)
    layers = [_user_layer(name, path)] if path else []
    layers.append({k: v for k, v in overrides.items() if v is not None})
    for layer in layers:
        unknown = sorted(set(layer) - set(config))
        if unknown:
            where = f"{path}" if path and layer is layers[0] else "settings"
            raise _config_error(f"{where}: unknown keys {unknown}; valid keys: {', '.join(config)}")
        config.update(layer)
    return config
