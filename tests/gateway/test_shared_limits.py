"""On PostgreSQL the limits are counted in the database: they hold across gateways (nodes)."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event

from gateway.store import migrate
from gateway.store.database import Database
from gateway.store.shared_limits import (
    LEASE_SECONDS,
    SHARE_FRACTION,
    SHARE_SECONDS,
    PostgresLimits,
)
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


def count_transactions(database: Database) -> list[int]:
    """A counter of the transactions committed on `database`'s engine from now on."""
    committed = [0]

    def on_commit(_: Any) -> None:
        committed[0] += 1

    event.listen(database.engine, "commit", on_commit)
    return committed


async def test_a_busy_key_is_counted_in_shares_not_use_by_use(database: Database) -> None:
    limits = PostgresLimits(database, clock=Clock())
    committed = count_transactions(database)
    answers = [await limits.take("b", "busy", limit=100_000, per_seconds=60) for _ in range(1000)]
    assert answers == [None] * 1000
    assert committed[0] <= 12  # shares of 1, 2, 4, … uses: not a transaction per use


async def test_two_nodes_spending_shares_never_let_more_through_than_the_limit(
    database: Database,
) -> None:
    clock = Clock()
    nodes = [PostgresLimits(database, clock=clock), PostgresLimits(database, clock=clock)]
    limit, window = 640, 3.0
    allowed: list[float] = []
    seconds = 8
    for step in range(seconds * 200):
        clock.now += 0.005
        # the first node slowly (its shares last), the second faster than allowed
        asking = ([nodes[0]] if step % 10 == 0 else []) + [nodes[1]] * 2
        for node in asking:
            if await node.take("b", "k", limit=limit, per_seconds=window) is None:
                allowed.append(clock.now)
        if step % 200 == 0:
            await asyncio.gather(*(n.settle() for n in nodes))
    busiest = max(k - bisect.bisect_right(allowed, t - window) + 1 for k, t in enumerate(allowed))
    assert busiest <= limit
    # a use counts at most a share's time longer than its window; a share left is given back
    windows = seconds / (window + SHARE_SECONDS) - 1
    assert len(allowed) >= windows * (limit - 2 * limit // SHARE_FRACTION)


async def test_a_use_spent_late_in_a_share_counts_a_whole_window_after_it(
    database: Database,
) -> None:
    clock = Clock()
    one, two = PostgresLimits(database, clock=clock), PostgresLimits(database, clock=clock)
    limit, window = 640, 60.0
    uses: list[float] = []

    async def take(node: PostgresLimits) -> bool:
        allowed = await node.take("b", "k", limit=limit, per_seconds=window) is None
        if allowed:
            uses.append(clock.now)
        return allowed

    assert [await take(one) for _ in range(4)] == [True] * 4  # `one` now spends a share
    clock.now += SHARE_SECONDS * 0.9
    assert [await take(one) for _ in range(3)] == [True] * 3  # late in that share
    while await take(two):
        pass
    clock.now = uses[0] + window + SHARE_SECONDS / 2
    while await take(two):
        pass
    # in every window at most `limit` uses, wherever in its share a use was spent
    assert max(k - bisect.bisect_right(uses, t - window) + 1 for k, t in enumerate(uses)) <= limit


async def test_what_a_node_leaves_of_its_share_is_given_back(database: Database) -> None:
    clock = Clock()
    one, two = PostgresLimits(database, clock=clock), PostgresLimits(database, clock=clock)
    limit = 640
    assert [await one.take("b", "k", limit=limit, per_seconds=60) for _ in range(300)] == [
        None
    ] * 300
    taken = 0
    while await two.take("b", "k", limit=limit, per_seconds=60) is None:
        taken += 1
    assert limit - 300 - limit // SHARE_FRACTION <= taken < limit - 300  # `one` holds a share
    clock.now += SHARE_SECONDS
    await one.settle()
    clock.now += SHARE_SECONDS  # `two`'s refusal is asked again
    more = 0
    while await two.take("b", "k", limit=limit, per_seconds=60) is None:
        more += 1
    assert 300 + taken + more == limit


async def test_spare_places_count_for_the_node_and_are_given_back(database: Database) -> None:
    clock = Clock()
    one, two = PostgresLimits(database, clock=clock), PostgresLimits(database, clock=clock)
    capacity = 640
    assert all([await one.acquire("s", "k", capacity=capacity) for _ in range(100)])
    held = 0
    while await two.acquire("s", "k", capacity=capacity):
        held += 1
    assert capacity - 100 - 2 * capacity // SHARE_FRACTION <= held < capacity - 100
    for _ in range(100):
        await one.release("s", "k")
    assert all([await one.acquire("s", "k", capacity=capacity) for _ in range(100)])
    for _ in range(100):
        await one.release("s", "k")
    clock.now += SHARE_SECONDS
    await one.settle()
    while await two.acquire("s", "k", capacity=capacity):
        held += 1
    assert held == capacity
