"""Nodes started at the same moment on an empty PostgreSQL database agree on one schema and
one master secret."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import psycopg

from tests.support.config import GatewayConfig, webchat_channel
from tests.support.daemon import Daemon
from tests.support.databases import fresh_postgres

SITE = "https://shop.example.com"
NODES = 3


async def _open_session(
    http: aiohttp.ClientSession, base: str, token: str | None
) -> aiohttp.ClientResponse:
    body = {} if token is None else {"token": token}
    response = await http.post(
        base + "/channels/chat/sessions", json=body, headers={"Origin": SITE}
    )
    await response.read()
    return response


async def test_nodes_started_together_on_an_empty_database_share_one_secret(
    tmp_path: Path, postgres_url: str
) -> None:
    with fresh_postgres(postgres_url) as database_url:
        config = GatewayConfig(
            database_url=database_url, channels=[webchat_channel(allowed_origins=[SITE])]
        )
        nodes = [Daemon(tmp_path, config.with_(listen=None), name=f"node{i}") for i in range(NODES)]
        try:
            # every node migrates and makes its secret at once: all must come up
            await asyncio.gather(*(node.start() for node in nodes))
            async with aiohttp.ClientSession() as http:
                first = await _open_session(http, nodes[0].url, None)
                assert first.status == 200
                opened = await first.json()
                for node in nodes[1:]:
                    # a visitor's token made on one node is honoured by every other
                    again = await _open_session(http, node.url, opened["token"])
                    assert again.status == 200, await again.text()
                    assert (await again.json())["conversationId"] == opened["conversationId"]
        finally:
            codes = await asyncio.gather(*(node.stop() for node in nodes))
        assert codes == [0] * NODES
        with psycopg.connect(database_url) as connection:
            (versions,) = connection.execute("SELECT count(*) FROM alembic_version").fetchone() or (
                0,
            )
        assert versions == 1
