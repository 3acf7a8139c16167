"""run.json: what went in, which model, which thresholds, what came out, how long it took.

Enough to reproduce a run and to prove which orthomosaics a target list came from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from poppyscan.atomic import atomic_write_text
from poppyscan.errors import ConfigError
from poppyscan.provenance import sha256_file, utc_now

__all__ = ["MANIFEST", "MANIFEST_SCHEMA", "file_record", "read_run", "write_run_manifest"]

MANIFEST_SCHEMA = "poppyscan.run/1"
MANIFEST = "run.json"  # its name in a run folder
_PACKAGES = (
    "poppyscan",
    "numpy",
    "rasterio",
    "pyogrio",
    "shapely",
    "pyproj",
    "opencv-python-headless",
    "opencv-python",
    "torch",
    "ultralytics",
)


def file_record(path: str | os.PathLike, *, relative_to: str | os.PathLike | None = None) -> dict:
    """``{"name", "path", "bytes", "sha256"}`` for one file; ConfigError if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not a file, cannot checksum it for the run manifest")
    shown = path
    if relative_to is not None:
        try:
            shown = path.resolve().relative_to(Path(relative_to).resolve())
        except ValueError:
            pass  # outside the folder: keep the path as given
    return {
        "name": path.name,
        "path": shown.as_posix(),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def write_run_manifest(
    path: str | os.PathLike,
    *,
    inputs: Sequence[str | os.PathLike],
    model: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    counts: Mapping[str, Any],
    timings: Mapping[str, float],
    outputs: Sequence[str | os.PathLike] = (),
    settings: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    created_at: str | None = None,
    run_id: str | None = None,
    flown_at: str | None = None,
) -> Path:
    """Write the run manifest (JSON) to ``path`` atomically.

    ``inputs`` and ``outputs`` are files; each gets its size and SHA-256
    (outputs are listed relative to the manifest's folder). ``timings`` are
    seconds per stage. ``created_at`` defaults to now, ISO 8601 UTC;
    ``flown_at`` is the flight date when known, ``run_id`` the run's identity.
    """
    path = Path(path)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "run_id": run_id,
        "created_at": created_at or utc_now(),
        "flown_at": flown_at,
        "software": _software_versions(),
        "inputs": [file_record(p) for p in inputs],
        "model": dict(model),
        "thresholds": dict(thresholds),
        "settings": dict(settings or {}),
        "counts": dict(counts),
        "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
        "outputs": [file_record(p, relative_to=path.parent) for p in outputs],
    }
    if extra:
        manifest["extra"] = dict(extra)
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False, default=_jsonable)
    return atomic_write_text(path, text + "\n")


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run_dir``'s run.json, checked: a ConfigError naming the file and what is wrong with it.

    Keys the writer always writes must be there with their types (``schema``,
    ``model`` with ``model_id``, ``counts``, ``inputs``, ``outputs``); other keys are
    kept as they are, so a newer writer's run folders still read.
    """
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {MANIFEST}; not a published run folder")
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise ConfigError(f"{path}: {problem}; not a run manifest poppyscan wrote")
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    """What makes ``manifest`` unusable as a run manifest, or None."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, not an object"
    if manifest.get("schema") != MANIFEST_SCHEMA:
        return f"schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA!r}"
    for key, kind in (("model", dict), ("counts", dict), ("inputs", list), ("outputs", list)):
        if not isinstance(manifest.get(key), kind):
            return f"{key!r} is missing or not a JSON {'object' if kind is dict else 'list'}"
    for key in ("thresholds", "settings", "extra", "timings_s"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            return f"{key!r} is not a JSON object"
    if not isinstance(manifest["model"].get("model_id"), str):
        return "'model' has no model_id"
    records = manifest["inputs"] + manifest["outputs"]
    if not all(isinstance(r, dict) and isinstance(r.get("path"), str) for r in records):
        return "an input or output is not a file record with a path"
    return None


def _software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import pyogrio

        versions["gdal"] = pyogrio.__gdal_version_string__
    except ImportError:
        pass
    return versions


def _jsonable(value: Any) -> Any:
    """JSON fallback for paths, numpy values, tuples-as-sets and datetimes."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"run manifest: cannot store {type(value).__name__} value {value!r} as JSON")
