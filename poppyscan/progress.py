"""Where long runs report: one protocol with declared methods, and a silent default.

Every long-running function of the API takes a ``progress`` object; passing
none means :class:`Silent`, so callers never check which methods exist.

>>> progress = as_progress(None)
>>> progress.start(10); progress.source("f1/ortho", 1, 2); progress.advance(3, note="merge")
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Progress", "Silent", "as_progress"]


@runtime_checkable
class Progress(Protocol):
    """``start(total)`` once the work is planned, ``source(label, i, n)`` when the run moves on
    to the i-th of n inputs, ``advance(n)`` as units of work finish."""

    def start(self, total: int | None) -> None: ...

    def source(self, label: str, index: int, count: int) -> None: ...

    def advance(self, n: int = 1, note: str | None = None) -> None: ...


class Silent:
    """A :class:`Progress` that reports nothing."""

    def start(self, total: int | None) -> None:
        pass

    def source(self, label: str, index: int, count: int) -> None:
        pass

    def advance(self, n: int = 1, note: str | None = None) -> None:
        pass


def as_progress(progress: Progress | None) -> Progress:
    """``progress``, or :class:`Silent` for None."""
    return Silent() if progress is None else progress
