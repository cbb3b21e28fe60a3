"""Three daemons on one PostgreSQL database keep a channel's pace for the gateway as a whole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.twilio.fake import FakeTwilio
from tests.support import GatewayConfig, eventually, twilio_channel
from tests.support.config import TOKEN
from tests.support.daemon import Daemon
from tests.support.databases import fresh_postgres

pytestmark = pytest.mark.slow

RATE = 5
NODES = 3
#: a bulk of 75 messages to 5 customers, each customer's through one of the nodes
BULK = 75
BULK_CUSTOMERS = 5
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class ClockedTwilio(FakeTwilio):
    """The Twilio fake, noting when each create arrived (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    async def _create(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        return await super()._create(request)


@pytest.fixture
async def clocked_twilio() -> AsyncIterator[ClockedTwilio]:
    fake = ClockedTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    with fresh_postgres(postgres_url) as url:
        yield url


async def test_three_nodes_send_a_bulk_at_the_channels_pace(
    tmp_path: Path, fresh_database: str, clocked_twilio: ClockedTwilio
) -> None:
    config = GatewayConfig(
        database_url=fresh_database,
        tokens={"crm": TOKEN},
        channels=[twilio_channel(fake=clocked_twilio, rate_per_second=RATE)],
    )
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        nodes: list[Daemon] = []
        for n in range(NODES):
            folder = tmp_path / f"node{n}"
            folder.mkdir()
            node = Daemon(folder, config)
            await node.start()
            stack.push_async_callback(node.stop)
            nodes.append(node)
        customers = [
            await _conversation(http, nodes[0], f"+1555100{i:04d}") for i in range(BULK_CUSTOMERS)
        ]
        replied = await _conversation(http, nodes[0], "+15552000001")
        await asyncio.gather(
            *(
                _send(
                    http,
                    nodes[i % BULK_CUSTOMERS % NODES],
                    customers[i % BULK_CUSTOMERS],
                    f"Sale! {i}",
                )
                for i in range(BULK)
            )
        )
        await _send(http, nodes[1], replied, "Your answer")
        total = BULK + 1
        await eventually(lambda: len(clocked_twilio.sent) >= total, timeout=120)

    arrivals = clocked_twilio.arrivals
    busiest_second = max(_within(arrivals, start, 1.0) for start in arrivals)
    busiest_ten = max(_within(arrivals, start, 10.0) for start in arrivals)
    assert busiest_second <= 2 * RATE
    assert busiest_ten <= 10 * RATE + RATE  # on average at most the rate, give or take a send
    # the customer who is answered takes turns with the bulk's, not after all of it
    bodies = [m["Body"] for m in clocked_twilio.sent]
    assert bodies.index("Your answer") < BULK // 2


def _within(arrivals: list[float], start: float, seconds: float) -> int:
    return sum(1 for t in arrivals if start <= t < start + seconds)


async def _conversation(http: aiohttp.ClientSession, node: Daemon, number: str) -> str:
    identity = {"channelId": "sms", "address": number}
    contact = await _post(
        http, node, "/inbox/v2/contacts", {"displayName": number, "identities": [identity]}
    )
    conversation = await _post(
        http,
        node,
        "/inbox/v2/conversations",
        {"participantId": {"contactId": contact["contact"]["id"]}},
    )
    return str(conversation["conversation"]["id"])


async def _send(http: aiohttp.ClientSession, node: Daemon, conversation: str, text: str) -> None:
    body = {
        "conversationId": conversation,
        "message": {"content": {"basic": {"items": [{"text": text}]}}},
    }
    await _post(http, node, "/inbox/v2/messages", body)


async def _post(
    http: aiohttp.ClientSession, node: Daemon, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with http.post(node.url + path, json=body, headers=AUTH) as response:
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data
