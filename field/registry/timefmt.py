"""Timestamps as the registry stores them: ISO 8601 UTC text, ``2026-05-03T10:20:00Z``.

Text of one format sorts in time order, so SQL and Python compare it as is.
Times without a zone (QField writes local time that way) are taken as UTC; a
date alone is its midnight.
"""

from __future__ import annotations

import datetime as dt

from poppyscan.errors import ConfigError

__all__ = ["iso_utc", "parse_time"]


def parse_time(value: str | dt.date | dt.datetime | None) -> str | None:
    """ISO 8601 UTC text of ``value``, None for empty; ValueError when unreadable."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if not text:
            return None
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc(value, *, what: str) -> str:
    """:func:`parse_time` that must succeed: ConfigError naming ``what`` otherwise."""
    try:
        text = parse_time(value)
    except (ValueError, TypeError):
        text = None
    if text is None:
        raise ConfigError(f"{what} {value!r} is not a date or time; use ISO 8601, e.g. "
                          "2026-05-03 or 2026-05-03T10:20:00Z")
    return text
