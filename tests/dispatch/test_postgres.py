"""Two daemons on one PostgreSQL database share the work: each send and each event goes once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.background import Options
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
