"""Limits: how often a client may do something, and how much of it may run at once.

Every door that needs a limit uses one service: the gateway's `Gateway.limits`, which adapters
reach as their host's `limits` (`ChannelHost.limits`), so all limits are counted, configured
and documented alike:

- `await limits.take(bucket, key, limit=5, per_seconds=60)` counts one use of `key` (say,
  one username at one client address) in `bucket` (say, `"login"`) *before* the work is
  done, so requests sent in parallel are counted too. It answers None when the use is within
  `limit` uses in any `per_seconds` window, or else the seconds until one more use would be
  allowed (send it as `Retry-After`); a refused use is not counted.
- `await limits.acquire(bucket, key, capacity=…)` / `await limits.release(bucket, key)` count
  what is held at once (open sockets per token, per address, in total): `acquire` answers
  False, holding nothing, when `capacity` are already held.

`InMemoryLimits` keeps the counts in this process with bounded memory (past `max_keys` per
bucket the least recently used key is forgotten): enough for one daemon. On PostgreSQL the
gateway counts in the database instead (`gateway.store.shared_limits`), so that limits hold
across processes and nodes; callers depend only on `Limits`. `InMemoryLimits` is pure
counting, no I/O: it belongs to the contract so that adapter tests count as the daemon does.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

#: keys remembered per bucket by the in-memory limits before the least recent is forgotten
MAX_KEYS = 100_000


class Limits(Protocol):
    """Counts uses per key, and what is held at once, for every limited door."""

    async def take(self, bucket: str, key: str, *, limit: int, per_seconds: float) -> float | None:
        """Count one use; None when allowed, else seconds until one more would be."""
        ...

    async def acquire(self, bucket: str, key: str, *, capacity: int) -> bool:
        """Hold one of `capacity` places for `key`; False (nothing held) when all are taken."""
        ...

    async def release(self, bucket: str, key: str) -> None:
        """Give back a place taken with `acquire`."""
        ...


class InMemoryLimits:
    """`Limits` in this process's memory: sliding windows of use times, held counts."""

    def __init__(
        self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self._clock = clock
        self._uses: dict[str, OrderedDict[str, deque[float]]] = {}
        self._held: dict[str, dict[str, int]] = {}

    async def take(self, bucket: str, key: str, *, limit: int, per_seconds: float) -> float | None:
        now = self._clock()
        keys = self._uses.setdefault(bucket, OrderedDict())
        uses = keys.get(key)
        if uses is None:
            uses = keys[key] = deque()
        else:
            keys.move_to_end(key)
        while uses and uses[0] <= now - per_seconds:
            uses.popleft()
        if len(uses) >= limit:
            # the oldest use in the window leaves it first
            return max(uses[0] + per_seconds - now, 0.001) if uses else per_seconds
        uses.append(now)
        while len(keys) > self.max_keys:
            keys.popitem(last=False)
        return None

    async def acquire(self, bucket: str, key: str, *, capacity: int) -> bool:
        held = self._held.setdefault(bucket, {})
        if held.get(key, 0) >= capacity:
            return False
        held[key] = held.get(key, 0) + 1
        return True

    async def release(self, bucket: str, key: str) -> None:
        held = self._held.get(bucket, {})
        count = held.get(key, 0) - 1
        if count > 0:
            held[key] = count
        else:
            held.pop(key, None)
