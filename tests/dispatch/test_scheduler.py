"""The scheduler's jobs: sweeps, expiry of idempotency keys and menus, backlog gauges."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from gateway.background import (
    Sweeps,
    backlog,
    build_sweeps,
    expire_idempotency_keys,
    expire_menus,
)
from gateway.clock import now
from gateway.store.models import IdempotencyRow, MenuRow
from tests.dispatch.harness import Running, running
from tests.support.polling import eventually


async def test_keys_and_menus_older_than_a_day_are_forgotten(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        old, fresh = now() - timedelta(hours=25), now() - timedelta(hours=23)

        def seed(session: Session) -> None:
            for key, stamp in (("old", old), ("fresh", fresh)):
                session.add(
                    IdempotencyRow(token_name="crm", key=key, message_id=key, created_at=stamp)
                )
                session.add(
                    MenuRow(
                        conversation_id=key,
                        channel_id="sms",
                        message_id=key,
                        choices=[],
                        created_at=stamp,
                    )
                )

        db = run.gateway.db
        await db.write(seed)
        assert await db.write(expire_idempotency_keys) == 1
        assert await db.write(expire_menus) == 1
        keys = await run.read(lambda s: [r.key for r in s.exec(select(IdempotencyRow))])
        menus = await run.read(lambda s: [r.conversation_id for r in s.exec(select(MenuRow))])
        assert keys == ["fresh"] and menus == ["fresh"]


async def test_every_periodic_job_is_scheduled_in_one_place(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        sweeps = build_sweeps(run.gateway, lambda: None, lambda: None)
        assert {job.id for job in sweeps.scheduler.get_jobs()} == {
            "due-deliveries",
            "outgoing-webhooks",
            "backlog-gauges",
            "expire-and-prune",
            "closed-windows",
        }


async def test_the_backlog_counts_deliveries_not_yet_sent(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        script = run.script()
        script.gate = asyncio.Event()
        await run.queue("+15550002222", "one")
        await run.queue("+15550003333", "two")
        assert (await run.read(backlog))[0] == 2
        script.gate.set()
        await eventually(lambda: len(script.sent) == 2)
        await eventually(lambda: _backlog_is(run, 0))


async def _backlog_is(run: Running, count: int) -> bool:
    return (await run.read(backlog))[0] == count


async def test_the_sweeps_wake_the_dispatcher_on_the_event_loops_thread(tmp_path: Path) -> None:
    # an asyncio.Event set from another thread may wake nobody
    async with running(tmp_path / "db.sqlite") as run:
        woken: dict[str, int] = {}
        sweeps = build_sweeps(
            run.gateway,
            lambda: woken.setdefault("dispatcher", threading.get_ident()),
            lambda: woken.setdefault("webhooks", threading.get_ident()),
            sweep_seconds=0.05,
        )
        sweeps.start()
        try:
            await eventually(lambda: len(woken) == 2)
        finally:
            await sweeps.stop(5.0)
        assert woken == {"dispatcher": threading.get_ident(), "webhooks": threading.get_ident()}


async def test_a_stop_lets_a_running_job_finish_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweeps = Sweeps()
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_sweep() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    sweeps.every(0.05, slow_sweep, "slow-sweep")
    sweeps.start()
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.INFO):
        await sweeps.stop(5.0)
        await asyncio.sleep(0.1)  # a cancelled job would be logged by now
    assert finished.is_set()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_run_started_as_the_stop_begins_finishes_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scheduler starts a due run as a task that begins at the loop's next turn; a stop
    that comes in between waits for it too, as a daemon stopped at that moment must (it
    cancels what is left when the stop ends, which APScheduler logs as an ERROR)."""
    sweeps = Sweeps()
    finished = asyncio.Event()

    async def sweep() -> None:
        await asyncio.sleep(0.05)
        finished.set()

    sweeps.every(60, sweep, "sweep", first=now())
    sweeps.start()
    await asyncio.sleep(0)  # the scheduler's first turn: the run's task exists, not begun
    with caplog.at_level(logging.INFO):
        await sweeps.stop(5.0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in left:  # as the daemon's end does
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
    assert finished.is_set()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
