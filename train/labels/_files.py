"""Small helpers shared by the label readers: parse a file or raise LabelError naming it.

Readers check every value's type before using it: a label file that is not
what it claims is one LabelError line, never a traceback and never a guess.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from poppyscan.errors import LabelError

__all__ = ["load_json", "number", "expect", "identifier", "class_name", "positive_size"]

_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string"}


def load_json(path: Path) -> Any:
    """Parsed JSON of ``path``; LabelError naming the file if it is unreadable or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as err:
        raise LabelError(f"{path}: cannot read label file ({err.strerror})") from err
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise LabelError(f"{path}: not valid JSON ({str(err)[:200]})") from None


def number(value: Any, *, path: Path, what: str) -> float:
    """``value`` as a finite float; LabelError naming the file and ``what`` otherwise.

    Numbers written as strings (``"12.5"``, as CSV and XML hold them) are read;
    booleans, NaN and infinities are not numbers here.
    """
    if isinstance(value, bool):
        raise LabelError(f"{path}: {what} is {value!r}, not a number")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise LabelError(f"{path}: {what} is {_short(value)}, not a number") from None
    if not math.isfinite(out):
        raise LabelError(f"{path}: {what} is {_short(value)}, not a finite number")
    return out


def expect(value: Any, kind: type, *, path: Path, what: str) -> Any:
    """``value`` if it is a ``kind`` (dict, list, str); LabelError otherwise."""
    if not isinstance(value, kind):
        raise LabelError(
            f"{path}: {what} is {_short(value)}; expected {_TYPE_NAMES.get(kind, kind.__name__)}"
        )
    return value


def identifier(value: Any, *, path: Path, what: str) -> int | str:
    """An id as COCO and Label Studio write them: an integer or a string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise LabelError(f"{path}: {what} is {_short(value)}; expected an integer or string id")
    return value


def class_name(value: Any, default_class: str | None, *, path: Path, what: str) -> str:
    """A label's class: ``value`` if it names one, else ``default_class``, else LabelError."""
    if isinstance(value, float) and math.isnan(value):
        value = None
    if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
        raise LabelError(f"{path}: {what} has class {_short(value)}; expected a name")
    name = "" if value is None else str(value).strip()
    if name:
        return name
    if default_class:
        return default_class
    raise LabelError(
        f"{path}: {what} has no class; give one with default_class= / --default-class NAME"
    )


def positive_size(width: float, height: float, *, path: Path, what: str) -> None:
    """LabelError unless a box is wider and taller than zero (such boxes are never dropped)."""
    if not (width > 0 and height > 0):
        raise LabelError(
            f"{path}: {what} has width {width:g} and height {height:g}; both must be > 0"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
