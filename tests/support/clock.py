"""A clock that moves only when a test moves it, for code that takes `clock` and `sleep`."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class ManualClock:
    """Monotonic seconds that stand still until `advance`; `sleep` waits for that.

    Give `clock` where code reads the time and `sleep` where it waits: the code then runs as
    fast as the machine lets it, while every time it sees is the test's to choose.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Return once the clock was advanced by `seconds` (at once for 0 or less)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    @property
    def sleeping(self) -> int:
        """How many `sleep` calls are waiting for the clock."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleep that is due (in the order they end)."""
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
