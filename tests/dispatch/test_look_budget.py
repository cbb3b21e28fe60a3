"""The dispatcher's budget of looks for due deliveries: cheap ones as often as wanted, dear
ones spaced so that looking takes a set share of the time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from pytest import MonkeyPatch, approx
from sqlmodel import Session

import gateway.outbound.dispatcher as dispatch_module
from gateway.outbound.claim import Due, find_due
from gateway.outbound.look_budget import LookBudget
from tests.dispatch.harness import running
from tests.support.clock import ManualClock


def test_cheap_looks_run_back_to_back_until_the_burst_is_spent() -> None:
    clock = ManualClock()
    budget = LookBudget(share=0.1, burst=0.05, clock=clock.clock)
    for _ in range(16):  # 3 ms each, with the clock standing still: 48 ms of the 50
        assert budget.wait() == 0
        budget.spend(0.003)
    assert budget.wait() == 0
    budget.spend(0.003)
    assert budget.wait() == approx(0.001 / 0.1)  # 1 ms overdrawn, earned back at 10%
    clock.advance(0.011)
    assert budget.wait() == 0


def test_a_dear_look_is_followed_by_the_next_only_when_its_cost_is_earned_back() -> None:
    clock = ManualClock()
    budget = LookBudget(share=0.1, burst=0.05, clock=clock.clock)
    clock.advance(0.35)
    budget.spend(0.35)  # a look of 100,000 due deliveries
    assert budget.cycle == approx(3.5)
    assert budget.wait() == approx(3.0)  # (0.35 - 0.05) / 0.1
    clock.advance(2.9)
    assert budget.wait() > 0
    clock.advance(0.2)
    assert budget.wait() == 0


def test_what_a_look_costs_up_to_free_is_not_counted() -> None:
    clock = ManualClock()
    budget = LookBudget(share=0.1, burst=0.05, free=0.025, clock=clock.clock)
    for _ in range(100):  # a short queue's looks, 20 ms each, with the clock standing still
        assert budget.wait() == 0
        budget.spend(0.02)
    budget.spend(0.125)  # 100 ms counted: 50 ms overdrawn
    assert budget.wait() == approx(0.5)
    assert budget.cycle == approx(1.0)


def test_time_without_looks_builds_up_no_more_than_the_burst() -> None:
    clock = ManualClock()
    budget = LookBudget(share=0.1, burst=0.05, clock=clock.clock)
    clock.advance(3600)
    budget.spend(0.06)
    assert budget.wait() == approx(0.1)


def dear_looks(monkeypatch: MonkeyPatch) -> list[int]:
    """Make every look of the dispatcher take 50 ms, as a long queue's does; answers the
    number of deliveries each look asked for, as they come."""
    limits: list[int] = []

    def dear(session: Session, now: datetime, limit: int) -> Due:
        limits.append(limit)
        time.sleep(0.05)
        return find_due(session, now, limit)

    monkeypatch.setattr(dispatch_module, "find_due", dear)
    return limits


async def test_the_dispatcher_spaces_out_looks_that_cost_much(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """Rounds that want a look (nothing found ahead) run one after another for 0.6 s; each
    look takes 50 ms. At a tenth of the time, the looks are at most two, where rounds
    looking each time would have made a dozen."""
    async with running(tmp_path / "db.sqlite") as run:
        dispatcher = await run.dispatcher_by_hand()
        dispatcher._looks = LookBudget(share=0.1, burst=0.01)
        looks = dear_looks(monkeypatch)
        started = time.monotonic()
        while time.monotonic() - started < 0.6:
            await dispatcher._claim_round()
            await asyncio.sleep(0.001)
    assert 1 <= len(looks) <= 2


async def test_a_look_that_follows_a_dear_one_takes_in_more(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """A look of 50 ms at a tenth of the time is followed by the next half a second later:
    that look asks for more deliveries than the usual 4 * workers + 16, so that the workers
    have enough to send until the one after it."""
    async with running(tmp_path / "db.sqlite", workers=4) as run:
        dispatcher = await run.dispatcher_by_hand()
        dispatcher._looks = LookBudget(share=0.1, burst=0.01)
        limits = dear_looks(monkeypatch)
        while len(limits) < 2:
            await asyncio.sleep(await dispatcher._claim_round())
    assert limits[0] == 4 * 4 + 16
    assert limits[1] >= 2 * limits[0]


async def test_a_look_the_budget_does_not_count_still_makes_the_next_take_in_more(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """With the dispatcher's own budget, a look of 50 ms is not counted (the first 100 ms of
    each are free), so the next follows at once; it still asks for more deliveries than the
    usual 4 * workers + 16, as a long queue's looks cost tens of milliseconds each."""
    async with running(tmp_path / "db.sqlite", workers=4) as run:
        dispatcher = await run.dispatcher_by_hand()
        limits = dear_looks(monkeypatch)
        while len(limits) < 2:
            await asyncio.sleep(await dispatcher._claim_round())
    assert dispatcher._looks.wait() == 0
    assert limits[0] == 4 * 4 + 16
    assert limits[1] >= 2 * limits[0]
