"""The scheduler's jobs: sweeps, expiry of idempotency keys and menus, backlog gauges."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from gateway.background import backlog, build_scheduler, expire_idempotency_keys, expire_menus
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
        scheduler = build_scheduler(run.gateway, lambda: None, lambda: None)
        assert {job.id for job in scheduler.get_jobs()} == {
            "due-deliveries",
            "outgoing-webhooks",
            "backlog-gauges",
            "expire-keys-and-menus",
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
