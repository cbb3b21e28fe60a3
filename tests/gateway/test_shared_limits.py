"""On PostgreSQL the limits are counted in the database: they hold across gateways (nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from gateway.store import migrate
from gateway.store.database import Database
from gateway.store.shared_limits import LEASE_SECONDS, PostgresLimits
from tests.gateway.conftest import LiveGateway, gateway_config
from tests.support.config import webchat_channel
from tests.support.databases import fresh_postgres
from tests.support.fixtures import StartLive

SITE = "https://shop.example.com"


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    with fresh_postgres(postgres_url) as url:
        yield url


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    db = Database(fresh_database)
    await asyncio.to_thread(migrate.upgrade, db.engine)
    yield db
    db.engine.dispose()


async def open_session(http: aiohttp.ClientSession, live: LiveGateway) -> int:
    async with http.post(
        f"{live.url}/channels/chat/sessions", json={}, headers={"Origin": SITE}
    ) as response:
        return response.status


async def two_nodes(gateways: StartLive, database_url: str) -> tuple[LiveGateway, LiveGateway]:
    """Two gateways with a web chat channel, sharing one database."""
    config = gateway_config(database_url).with_(channels=[webchat_channel(allowed_origins=[SITE])])
    return await gateways(config), await gateways(config)


async def test_two_gateways_on_one_database_share_the_session_limit(
    gateways: StartLive, fresh_database: str
) -> None:
    one, two = await two_nodes(gateways, fresh_database)
    async with aiohttp.ClientSession() as http:
        first = [await open_session(http, one) for _ in range(40)]
        second = await asyncio.gather(*(open_session(http, two) for _ in range(40)))
    assert first == [200] * 40
    assert sorted(second) == [200] * 20 + [429] * 20


async def test_sockets_held_on_two_nodes_count_against_one_cap(
    gateways: StartLive, fresh_database: str
) -> None:
    one, two = await two_nodes(gateways, fresh_database)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{one.url}/channels/chat/sessions", json={}, headers={"Origin": SITE}
        ) as r:
            token = (await r.json())["token"]
        answers: list[str] = []
        sockets = []
        for node in [one] * 15 + [two] * 10:
            ws = await http.ws_connect(
                f"{node.url}/channels/chat/ws?token={token}", headers={"Origin": SITE}
            )
            sockets.append(ws)
            await ws.send_json({"type": "sync", "afterSequence": "0"})
            frame: dict[str, Any] = await ws.receive_json(timeout=5)
            answers.append(frame["type"] if frame["type"] == "history" else frame["code"])
        for ws in sockets:
            await ws.close()
    assert answers == ["history"] * 20 + ["TOO_MANY_SOCKETS"] * 5


async def test_a_use_is_counted_before_the_work_and_a_refusal_is_not_counted(
    database: Database,
) -> None:
    clock = Clock()
    limits = PostgresLimits(database, clock=clock)
    assert [await limits.take("b", "k", limit=2, per_seconds=60) for _ in range(2)] == [None] * 2
    clock.now += 10
    wait = await limits.take("b", "k", limit=2, per_seconds=60)
    assert wait == pytest.approx(50)
    clock.now += 50  # the first use leaves the window; the refused one was never counted
    assert await limits.take("b", "k", limit=2, per_seconds=60) is None
    assert await limits.take("b", "other", limit=2, per_seconds=60) is None


async def test_a_node_that_stops_renewing_frees_its_places_after_the_lease(
    database: Database,
) -> None:
    clock = Clock()
    dead, alive = PostgresLimits(database, clock=clock), PostgresLimits(database, clock=clock)
    assert await dead.acquire("sockets", "v", capacity=2)
    assert await alive.acquire("sockets", "v", capacity=2)
    assert not await alive.acquire("sockets", "v", capacity=2)
    clock.now += LEASE_SECONDS - 1
    await alive.renew()
    assert not await alive.acquire("sockets", "v", capacity=2)
    clock.now += 2  # `dead` never renewed: its place is free again, `alive`'s is not
    assert await alive.acquire("sockets", "v", capacity=2)
    assert not await alive.acquire("sockets", "v", capacity=2)
    await alive.release("sockets", "v")
    assert await alive.acquire("sockets", "v", capacity=2)
