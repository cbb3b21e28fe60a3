"""A per-visitor limit on how fast messages may arrive, so one tab cannot flood the inbox."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class FloodGate:
    """At most `limit` messages per visitor in any `window` seconds (a sliding window).

    Kept in memory per process: every tab of a visitor shares it, and a restart forgets it.
    """

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._calls = 0

    def allow(self, visitor: str) -> bool:
        """Count one message from the visitor; False when it is over the limit."""
        now = self._clock()
        self._calls += 1
        if self._calls % 1000 == 0:
            self._forget_idle(now)
        times = self._seen.setdefault(visitor, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) >= self._limit:
            return False
        times.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        # Visitors come and go; drop those quiet for a whole window so memory stays flat.
        idle = [v for v, t in self._seen.items() if not t or t[-1] <= now - self._window]
        for visitor in idle:
            del self._seen[visitor]
