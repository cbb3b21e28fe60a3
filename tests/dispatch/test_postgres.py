"""Two daemons on one PostgreSQL database share the work: each send and each event goes once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from gateway.background import Options
from gateway.clock import now
from gateway.outbound.claim import claimer
from tests.dispatch.harness import fixed_jitter, running
from tests.support.databases import fresh_postgres
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    with fresh_postgres(postgres_url) as url:
        yield url


async def test_two_nodes_send_each_message_once(tmp_path: Path, fresh_database: str) -> None:
    options = Options(uniform=fixed_jitter, sweep_seconds=0.1)
    async with subscriber() as sub:
        webhooks = [sub.webhook(["message_sent_to_participant"])]
        async with (
            running(
                tmp_path / "a", database_url=fresh_database, webhooks=webhooks, options=options
            ) as first,
            running(
                tmp_path / "b", database_url=fresh_database, webhooks=webhooks, options=options
            ) as second,
        ):
            ids = [await first.queue(f"+1555000{i:04d}", f"message {i}") for i in range(20)]
            ids += [await second.queue(f"+1555100{i:04d}", f"message {i}") for i in range(20)]

            def all_sent() -> bool:
                return len(first.script().sent) + len(second.script().sent) >= len(ids)

            await eventually(all_sent, 20)
            await eventually(lambda: len(sub.accepted) == len(ids), 20)
            sent = Counter(p.message_id for p in first.script().sent + second.script().sent)
            assert set(sent) == set(ids)
            assert max(sent.values()) == 1
            assert len(sub.received) == len(ids)  # one node at a time sends to a subscriber


async def test_a_persons_sends_taken_by_two_nodes_go_out_in_the_conversations_order(
    tmp_path: Path, fresh_database: str
) -> None:
    """Sends to one person taken by both nodes, stamped due out of the conversation's order
    (as two nodes' clocks a little apart stamp them), go out one at a time in that order,
    whichever node sends each."""
    options = Options(uniform=fixed_jitter, sweep_seconds=0.1)
    async with (
        running(tmp_path / "a", database_url=fresh_database, options=options) as a,
        running(tmp_path / "b", database_url=fresh_database, options=options) as b,
    ):
        for node in (a, b):
            node.script().gate = asyncio.Event()  # each provider holds its sends until released
        first = await a.queue("+15550001000", "first")
        await eventually(lambda: len(a.script().calls) + len(b.script().calls) == 1)
        later = [await node.queue("+15550001000", f"m{n}") for n, node in enumerate((b, a, b))]
        await a.stamp_due_backwards(later)
        for node in (a, b):
            gate = node.script().gate
            assert gate is not None
            gate.set()

        def sent_in_time_order() -> list[str]:
            # both nodes run in this process: their sends' times are on one clock
            both = [
                (when, part.message_id)
                for node in (a, b)
                for when, part in zip(node.script().times, node.script().sent, strict=True)
            ]
            return [message_id for _, message_id in sorted(both)]

        await eventually(lambda: len(sent_in_time_order()) == 4, 20)
        assert sent_in_time_order() == [first, *later]


async def test_two_nodes_claiming_at_once_never_put_two_of_a_persons_messages_in_flight(
    tmp_path: Path, fresh_database: str
) -> None:
    """A person's earlier message waits for a retry, so one node claims their later one; as
    it does, the earlier one's retry falls due and another node claims that (here two
    transactions side by side, as two nodes run their claims). Neither sees the other's
    claim before it commits: the second gives way to the first, while it claims and once it
    has committed."""
    async with running(tmp_path / "a", database_url=fresh_database) as run:
        dispatcher = await run.dispatcher_by_hand()
        earlier = await run.queue("+15550001000", "earlier")
        later = await run.queue("+15550001000", "later")
        retry_at = now() + timedelta(seconds=5)
        await run.retry_at(earlier, retry_at)
        gw = run.gateway

        def claim(session: Session, message_id: str, at: datetime) -> list[str]:
            write = claimer([message_id], at, dispatcher.lease, gw.directory, postgres=True)
            return [job.message_id for job in write(session)]

        with Session(gw.db.engine) as one, Session(gw.db.engine) as other:
            assert claim(one, later, now()) == [later]  # not committed yet
            after_retry = retry_at + timedelta(seconds=1)
            assert claim(other, earlier, after_retry) == []
            one.commit()
            assert claim(other, earlier, after_retry) == []
            other.commit()
        assert (await run.delivery(earlier)).claimed_until is None
