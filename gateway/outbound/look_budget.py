"""How much of its time the dispatcher may spend looking for due deliveries.

A look reads every due delivery, so its cost grows with the queue: 3 ms with 300 waiting,
0.3 to 0.5 s with 100,000 (SQLite). Looking on every wake-up, as short queues allow, would then
keep a core busy while a campaign waits for its channel's pace. The budget lets looks run as
often as they are wanted while they are cheap, and spaces them out as they get dear.

What a look costs up to `free` is not counted: a look that cheap is a queue of at most a
few thousand, and spacing it would only delay the sends it finds. A look is timed in the
reader's thread, which under load includes its waits for the interpreter: during a load of
web chat replies on 10,000 sockets, looks of a few milliseconds took up to 80 ms, and
counting them held the next look back long enough to double the replies' p99. How much the
next look takes in follows the whole time, the free part too (`span`): that delays nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class LookBudget:
    """Seconds of looking: they build up at `share` of a second per second, up to `burst`,
    and each look spends what it took beyond `free`. A look may start while some are left.

    `clock` is the monotonic time it reads (a test gives its own).
    """

    def __init__(
        self,
        share: float,
        burst: float,
        free: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1 or burst <= 0 or free < 0:
            raise ValueError("share must be in (0, 1], burst positive and free not negative")
        self.share = share
        self.burst = burst
        self.free = free
        self._clock = clock
        self._left = burst
        self._stamp = clock()
        #: what the last look took, its free part included
        self.took = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._left = min(self.burst, self._left + (now - self._stamp) * self.share)
        self._stamp = now

    def wait(self) -> float:
        """Seconds until a look may start (0: now)."""
        self._refill()
        return 0.0 if self._left > 0 else -self._left / self.share

    def spend(self, seconds: float) -> None:
        """A look took `seconds`."""
        self._refill()
        self.took = seconds
        self._left -= self.counted

    @property
    def counted(self) -> float:
        """What the last look cost the budget: its time beyond `free`."""
        return max(0.0, self.took - self.free)

    @property
    def cycle(self) -> float:
        """The time the last look's cost takes to build up again: how long, while looks are
        wanted all the time, one look follows another."""
        return self.counted / self.share

    @property
    def span(self) -> float:
        """How long what a look finds should last for looks to take `share` of the time,
        judged by the last look's whole time, its free part too. Spacing looks delays what
        they find; taking in more per look does not, and a look costs about as much whatever
        it takes in, since it reads every due delivery."""
        return self.took / self.share
