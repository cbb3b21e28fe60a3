"""Pacing: each channel sends no faster than its `rate_per_second`, for the gateway as a whole.

On SQLite (one process per file) a token bucket in memory paces each channel. On PostgreSQL
several nodes may send on one channel, so each send reserves its slot from the channel's row
in `channel_pacing`: one statement moves the channel's next free slot on by 1/rate and
answers the slot it took, by the database's clock, which every node reads alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

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


class SlotBook(Protocol):
    """Where the nodes sharing a database reserve their send slots."""

    async def reserve(self, channel_id: str, interval: float) -> float:
        """Take the channel's next free slot and move it on by `interval` seconds; answers
        the seconds until the slot taken (0 when it is free now)."""
        ...


#: PostgreSQL: take the next free slot (now, if it has passed) and move it on, in one statement
_RESERVE = text(
    "INSERT INTO channel_pacing (channel_id, next_slot_at) "
    "VALUES (:channel_id, clock_timestamp() + make_interval(secs => :interval)) "
    "ON CONFLICT (channel_id) DO UPDATE SET next_slot_at = "
    "GREATEST(channel_pacing.next_slot_at, clock_timestamp()) + make_interval(secs => :interval) "
    "RETURNING EXTRACT(EPOCH FROM next_slot_at - clock_timestamp()) - :interval"
)


class SharedSlots:
    """Send slots kept in the database (PostgreSQL), shared by every node using it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def reserve(self, channel_id: str, interval: float) -> float:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._reserve, channel_id, interval)

    def _reserve(self, channel_id: str, interval: float) -> float:
        with self.engine.begin() as connection:
            wait = connection.execute(
                _RESERVE, {"channel_id": channel_id, "interval": interval}
            ).scalar_one()
        return max(0.0, float(wait))


class Pacer:
    """One pace per paced channel, shared by every worker of this process, and with `shared`
    by every node on the same database."""

    def __init__(
        self,
        rates: dict[str, float | None],
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: SlotBook | None = None,
    ) -> None:
        self._buckets = {
            channel_id: TokenBucket(rate, clock=clock, sleep=sleep)
            for channel_id, rate in rates.items()
            if rate
        }
        self._shared = shared
        self._sleep = sleep

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
        """Wait until the channel may send one more part."""
        bucket = self._buckets.get(channel_id)
        if bucket is None:
            return
        if self._shared is not None:
            try:
                wait = await self._shared.reserve(channel_id, 1.0 / bucket.rate)
            except Exception:
                # the database is away: keep this node's own pace until it is back
                log.warning("could not reserve a send slot for %s; pacing locally", channel_id)
            else:
                await self._sleep(wait)
                return
        await bucket.acquire()
