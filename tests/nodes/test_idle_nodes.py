"""Idle nodes stay idle: two daemons on one PostgreSQL, with an outgoing-webhook subscriber
configured, make a handful of commits a second between them when nothing happens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from tests.support import Daemon, GatewayConfig, Webhook, fresh_postgres, offline_channels
from tests.support.config import OFFLINE

#: seconds the nodes are watched while idle
WATCH = 8.0
#: commits a second one idle node may make (sweeps, the subscriber's lease look-ups)
HANDFUL = 10


def commits(server_url: str, database: str) -> int:
    """Transactions committed in `database` so far (PostgreSQL's statistics)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_two_idle_nodes_with_a_subscriber_make_a_handful_of_commits(
    postgres_url: str, tmp_path: Path
) -> None:
    with fresh_postgres(postgres_url) as url:
        config = GatewayConfig(
            database_url=url,
            channels=offline_channels(),
            webhooks=[Webhook(OFFLINE + "/hook", "s3cret")],
        )
        nodes = [Daemon(tmp_path, config, name=f"node-{n}") for n in "ab"]
        for node in nodes:
            await node.start()
        try:
            await asyncio.sleep(3.0)  # start-up done: migrations, cursors, the lease taken
            database = url.rsplit("/", 1)[1]
            before = commits(postgres_url, database)
            await asyncio.sleep(WATCH)
            made = commits(postgres_url, database) - before
        finally:
            for node in nodes:
                await node.stop()
    assert made <= HANDFUL * WATCH * len(nodes), f"{made} commits in {WATCH} s"
