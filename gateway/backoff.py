"""When to try again: the retry schedules of deliveries and outgoing webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: each wait is the scheduled delay times a factor in this range, so retries do not stampede
JITTER = (0.8, 1.2)

#: outgoing webhooks (SPEC section 5): 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, then hourly
WEBHOOK_DELAYS: tuple[float, ...] = (1, 5, 30, 120, 600, 1800)
WEBHOOK_EVERY = 3600.0
#: how long an event is retried before it is given up on
WEBHOOK_PATIENCE = timedelta(hours=24)

Uniform = Callable[[float, float], float]


@dataclass(frozen=True)
class Schedule:
    """The retry schedule of outgoing webhooks (SPEC section 5)."""

    delays: tuple[float, ...]
    every: float
    patience: timedelta


def jittered(delay: float, uniform: Uniform = random.uniform) -> float:
    """The delay with ±20 % jitter."""
    return delay * uniform(*JITTER)


def next_delivery_attempt(
    now: datetime,
    attempts: int,
    delays: Sequence[float],
    retry_after: float | None = None,
    uniform: Uniform = random.uniform,
) -> datetime | None:
    """When to retry after the `attempts`-th failure, or None when the schedule is spent."""
    if attempts < 1 or attempts > len(delays):
        return None
    wait = jittered(delays[attempts - 1], uniform)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + timedelta(seconds=wait)


def webhook_delay(
    attempts: int,
    delays: Sequence[float] = WEBHOOK_DELAYS,
    every: float = WEBHOOK_EVERY,
    uniform: Uniform = random.uniform,
) -> float:
    """Seconds to wait after an event's `attempts`-th failed POST."""
    base = delays[attempts - 1] if 1 <= attempts <= len(delays) else every
    return jittered(base, uniform)


async def sleep_until_woken(wake: asyncio.Event, seconds: float) -> None:
    """Wait for `wake` or `seconds`, whichever comes first.

    `asyncio.timeout` rather than `wait_for`: on Python 3.11 `wait_for` can swallow a
    cancellation that arrives just as the event is set, which would keep a stopping task alive.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
