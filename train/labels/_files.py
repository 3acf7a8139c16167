"""Small helpers shared by the label readers: parse a file or raise LabelError naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from poppyscan.tiles.errors import LabelError

__all__ = ["load_json", "number"]


def load_json(path: Path) -> Any:
    """Parsed JSON of ``path``; LabelError naming the file if it is unreadable or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as err:
        raise LabelError(f"{path}: cannot read label file ({err.strerror})") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LabelError(f"{path}: not valid JSON ({err})") from err


def number(value: Any, *, path: Path, what: str) -> float:
    """``value`` as a float; LabelError naming the file and ``what`` if it is not a number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise LabelError(f"{path}: {what} is {value!r}, not a number") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise LabelError(f"{path}: {what} is {value!r}, not a finite number")
    return out
