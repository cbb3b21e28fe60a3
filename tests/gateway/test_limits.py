"""The limits service: uses counted per key in a sliding window, places held at once, and a
cap on CPU-bound work in this process."""

from __future__ import annotations

import asyncio

import pytest

from gateway.limits import Busy, InMemoryLimits, Slots


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_gets_its_limit_per_window_then_the_seconds_to_wait() -> None:
    clock = Clock()
    limits = InMemoryLimits(clock=clock)
    for _ in range(5):
        assert await limits.take("login", "alice", limit=5, per_seconds=60) is None
        clock.now += 1
    assert await limits.take("login", "alice", limit=5, per_seconds=60) == pytest.approx(55)
    # another key and another bucket count on their own
    assert await limits.take("login", "bob", limit=5, per_seconds=60) is None
    assert await limits.take("sessions", "alice", limit=5, per_seconds=60) is None
    # the window slides: once the first use is a minute old, one more is allowed
    clock.now = 1060.0
    assert await limits.take("login", "alice", limit=5, per_seconds=60) is None
    assert await limits.take("login", "alice", limit=5, per_seconds=60) is not None


async def test_refused_uses_are_not_counted() -> None:
    clock = Clock()
    limits = InMemoryLimits(clock=clock)
    assert await limits.take("b", "k", limit=1, per_seconds=10) is None
    for _ in range(100):
        assert await limits.take("b", "k", limit=1, per_seconds=10) is not None
    clock.now += 10
    assert await limits.take("b", "k", limit=1, per_seconds=10) is None


async def test_memory_is_bounded_by_forgetting_the_least_recent_key() -> None:
    limits = InMemoryLimits(max_keys=3, clock=Clock())
    for key in ("a", "b", "c", "d"):
        assert await limits.take("b", key, limit=1, per_seconds=60) is None
    # "a" was forgotten to make room; "d" is remembered
    assert await limits.take("b", "a", limit=1, per_seconds=60) is None
    assert await limits.take("b", "d", limit=1, per_seconds=60) is not None


async def test_places_held_at_once_up_to_capacity() -> None:
    limits = InMemoryLimits()
    assert await limits.acquire("sockets", "t1", capacity=2)
    assert await limits.acquire("sockets", "t1", capacity=2)
    assert not await limits.acquire("sockets", "t1", capacity=2)
    assert await limits.acquire("sockets", "t2", capacity=2)
    await limits.release("sockets", "t1")
    assert await limits.acquire("sockets", "t1", capacity=2)


async def test_slots_cap_work_at_once_and_a_caller_waits_only_briefly() -> None:
    slots = Slots(2)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with slots.hold(wait=5):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 2
    async with slots.hold(wait=0), slots.hold(wait=0):
        with pytest.raises(Busy):
            async with slots.hold(wait=0.05):
                pass
    async with slots.hold(wait=0):
        pass
