"""Limits: the service every limited door counts with, and caps on CPU-bound work.

`Limits` and `InMemoryLimits` live in the channel contract (`channels.limits`), because
adapters count their doors through their host too; they are re-exported here for the daemon.

`Slots` is different on purpose: it caps CPU-bound work (password hashing) in *this* process,
where the cores are, and lets a caller wait briefly for a free slot before giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from channels.limits import MAX_KEYS, InMemoryLimits, Limits

__all__ = ["MAX_KEYS", "Busy", "InMemoryLimits", "Limits", "Slots"]


class Busy(Exception):
    """Every slot stayed taken for as long as the caller was willing to wait."""


class Slots:
    """At most `capacity` pieces of CPU-bound work at once in this process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._free = asyncio.Semaphore(self.capacity)

    @contextlib.asynccontextmanager
    async def hold(self, wait: float) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting up to `wait` seconds; raises `Busy` after."""
        if self._free.locked():
            try:
                await asyncio.wait_for(self._free.acquire(), timeout=max(wait, 0.0))
            except TimeoutError:
                raise Busy() from None
        else:
            await self._free.acquire()  # free: taken at once, without yielding
        try:
            yield
        finally:
            self._free.release()
