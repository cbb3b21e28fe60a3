"""The outbox keeps events for `[events] keep_days`, and longer for any subscriber not done
with them: behind, retrying, or given up on (so `inbox-gateway events` still finds it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from gateway.background import Options
from gateway.clock import new_id, now
from gateway.events import outbox
from gateway.events.retention import id_before, outbox_pruner
from gateway.store.models import EventRow, IdempotencyRow
from gateway.store.webhook_models import (
    FAILED,
    RETRYING,
    WebhookAttemptRow,
    WebhookCursorRow,
)
from tests.dispatch.harness import Running, running
from tests.support.polling import eventually

KEEP_DAYS = 30
#: the daemon's own pruning waits; these tests call the pruner themselves
NO_SWEEP = Options(first_expiry=timedelta(hours=1))
SOON = Options(first_expiry=timedelta(seconds=0.2))


def aged_id(days: float) -> str:
    """An event id made `days` ago."""
    return id_before(now() - timedelta(days=days)) + new_id()[13:]


async def seed(run: Running, *ages: float) -> list[EventRow]:
    """Events made `ages` days ago, appended in that order."""

    def write(session: Session) -> list[EventRow]:
        rows = [
            EventRow(
                id=aged_id(age),
                slug="conversations_merged",
                entity_fqdn=outbox.CONVERSATION,
                entity_id=f"c{i}",
                event_time=now() - timedelta(days=age),
                body={"age": age},
            )
            for i, age in enumerate(ages)
        ]
        for row in rows:
            session.add(row)
            session.flush()
        return rows

    return await run.gateway.db.write(write)


async def prune(run: Running, subscribers: Sequence[str] = (), batch: int = 100) -> int:
    pruner = outbox_pruner(now() - timedelta(days=KEEP_DAYS), subscribers, batch)
    return await run.gateway.db.write(pruner)


async def left(run: Running) -> list[str]:
    """The ids still in the outbox, in order."""
    return await run.read(lambda s: list(s.exec(select(EventRow.id).order_by(col(EventRow.seq)))))


async def cursor(run: Running, key: str, last_seq: int | None) -> None:
    assert last_seq is not None

    def write(session: Session) -> None:
        session.add(
            WebhookCursorRow(
                subscriber=key, url=f"https://{key}.example/", last_seq=last_seq, updated_at=now()
            )
        )

    await run.gateway.db.write(write)


async def test_events_older_than_keep_days_are_pruned_and_newer_ones_kept(
    tmp_path: Path, database_url: str
) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 35, 31, 20, 1)
        assert await prune(run) == 3
        assert await left(run) == [rows[3].id, rows[4].id]
        assert await prune(run) == 0


async def test_the_newest_event_stays_so_that_numbers_keep_going_up(
    tmp_path: Path, database_url: str
) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 35)
        assert await prune(run) == 1
        assert await left(run) == [rows[1].id]
        # a subscriber's cursor at the old newest event must not miss the next one
        later = await seed(run, 0)
        assert (later[0].seq or 0) > max(row.seq or 0 for row in rows)


async def test_a_subscriber_behind_holds_back_what_it_has_not_had(
    tmp_path: Path, database_url: str
) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 39, 38, 37, 1)
        await cursor(run, "behind", rows[1].seq)
        await cursor(run, "ahead", rows[4].seq)
        assert await prune(run, ["behind", "ahead"]) == 2
        assert await left(run) == [row.id for row in rows[2:]]
        # taken out of the config, the subscriber that was behind holds nothing back
        assert await prune(run, ["ahead"]) == 2
        assert await left(run) == [rows[4].id]


async def test_events_being_retried_or_given_up_on_are_kept(
    tmp_path: Path, database_url: str
) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 39, 38, 1)
        await cursor(run, "crm", rows[3].seq)

        def attempts(session: Session) -> None:
            for row, state in ((rows[0], RETRYING), (rows[1], FAILED)):
                assert row.seq is not None
                session.add(
                    WebhookAttemptRow(
                        subscriber="crm",
                        event_seq=row.seq,
                        event_id=row.id,
                        state=state,
                        attempts=3,
                        updated_at=now(),
                    )
                )

        await run.gateway.db.write(attempts)
        assert await prune(run, ["crm"]) == 1
        assert await left(run) == [rows[0].id, rows[1].id, rows[3].id]
        # taken out of the config, the subscriber no longer holds back what it was retrying,
        # and its tries of the events pruned go with them
        assert await prune(run, []) == 2
        assert await left(run) == [rows[3].id]
        assert await run.read(lambda s: s.exec(select(WebhookAttemptRow)).all()) == []


async def test_a_large_backlog_goes_a_batch_at_a_time(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 50, 49, 48, 47, 46, 1)
        assert [await prune(run, batch=2) for _ in range(4)] == [2, 2, 1, 0]
        assert await left(run) == [rows[5].id]


async def test_the_running_daemon_prunes_old_events(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 35, 1)
    async with running(tmp_path / "db", database_url=database_url, options=SOON) as run:
        await eventually(lambda: _left_is(run, [rows[2].id]))


async def test_keep_days_zero_keeps_every_event(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path / "db", database_url=database_url, options=NO_SWEEP) as run:
        rows = await seed(run, 40, 35, 1)
        await run.gateway.db.write(_a_key_made(timedelta(hours=25)))
    config = "[events]\nkeep_days = 0\n"
    async with running(
        tmp_path / "db", database_url=database_url, options=SOON, extra=config
    ) as run:
        # the job that prunes the outbox expires old idempotency keys right after
        await eventually(lambda: _no_keys(run))
        assert await left(run) == [row.id for row in rows]


async def _left_is(run: Running, ids: list[str]) -> bool:
    return await left(run) == ids


def _a_key_made(ago: timedelta) -> Callable[[Session], None]:
    def write(session: Session) -> None:
        session.add(
            IdempotencyRow(token_name="crm", key="k", message_id="m", created_at=now() - ago)
        )

    return write


async def _no_keys(run: Running) -> bool:
    return not await run.read(lambda s: s.exec(select(IdempotencyRow)).all())
