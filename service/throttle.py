"""Log-in attempts slowed per account and per client address after a few failures.

Each failure past :data:`FREE_FAILURES` (within :data:`WINDOW_S`) doubles how
long the account, and separately the address, must wait before the next try
(at most :data:`MAX_WAIT_S`); a refused try costs no password hash. The counts
live in the web process's memory, bounded, and a success clears them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

__all__ = ["LoginThrottle"]

FREE_FAILURES = 5
WINDOW_S = 900.0
MAX_WAIT_S = 900.0
MAX_KEYS = 10_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Failures per key (``user:NAME``, ``addr:IP``): how long each must still wait."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        """Seconds before any of ``keys`` may try again (0: now)."""
        with self._lock:
            return max((self._wait(key) for key in keys), default=0.0)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:  # forget the stalest half, not everyone
                stale = sorted(self._failures, key=lambda k: self._failures[k].last)
                for key in stale[: MAX_KEYS // 2]:
                    del self._failures[key]
            for key in keys:
                seen = self._failures.get(key)
                fresh = seen is None or now - seen.last > WINDOW_S + MAX_WAIT_S
                self._failures[key] = _Failures(1 if fresh else seen.count + 1, now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _wait(self, key: str) -> float:
        seen = self._failures.get(key)
        if seen is None or seen.count < FREE_FAILURES:
            return 0.0
        wait = min(MAX_WAIT_S, 2.0 ** (seen.count - FREE_FAILURES))
        return max(0.0, seen.last + wait - self.clock())
