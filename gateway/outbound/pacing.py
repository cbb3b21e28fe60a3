"""Pacing: each channel sends no faster than its `rate_per_second`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: monotonic seconds
Clock = Callable[[], float]
#: waits the given number of seconds
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Allows `rate` sends a second on average, with bursts of at most `burst`.

    `clock` and `sleep` are the time it reads and the way it waits: a test gives its own pair
    to see the pace without waiting for it.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is free (0 when one is free now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        """Wait for a token and take it; waiters are served in arrival order."""
        async with self._lock:
            while (wait := self.wait_time()) > 0:
                await self._sleep(wait)
            self._tokens -= 1


class Pacer:
    """One bucket per paced channel, shared by every worker of this process."""

    def __init__(
        self,
        rates: dict[str, float | None],
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._buckets = {
            channel_id: TokenBucket(rate, clock=clock, sleep=sleep)
            for channel_id, rate in rates.items()
            if rate
        }

    def paced(self, channel_id: str) -> bool:
        return channel_id in self._buckets

    def in_flight_limit(self, channel_id: str) -> int | None:
        """How many sends of the channel may wait for tokens at once (None: no limit).

        A slow channel keeps only about a second's worth of sends claimed, so that it never
        ties up every worker while faster channels have work.
        """
        bucket = self._buckets.get(channel_id)
        return None if bucket is None else max(1, int(bucket.rate))

    async def acquire(self, channel_id: str) -> None:
        bucket = self._buckets.get(channel_id)
        if bucket is not None:
            await bucket.acquire()
