"""Two daemons on one PostgreSQL database share the work: each send and each event goes once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from gateway.background import Options
from tests.dispatch.harness import eventually, fixed_jitter, running
from tests.webhooks.subscriber import subscriber


@pytest.fixture
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    name = f"dispatch_{uuid.uuid4().hex[:12]}"
    server = postgres_url.rsplit("/", 1)[0]
    with psycopg.connect(server + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(server + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_two_nodes_send_each_message_once(tmp_path: Path, fresh_database: str) -> None:
    options = Options(uniform=fixed_jitter, sweep_seconds=0.1)
    async with subscriber() as sub:
        extra = sub.config(["message_sent_to_participant"])
        async with (
            running(
                tmp_path / "a", database_url=fresh_database, extra=extra, options=options
            ) as first,
            running(
                tmp_path / "b", database_url=fresh_database, extra=extra, options=options
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
