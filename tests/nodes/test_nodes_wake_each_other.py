"""Two nodes on one PostgreSQL wake each other with LISTEN/NOTIFY: what is stored through one
reaches the sockets held by the other while the fallback poll is a minute away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from adapters.twilio.fake import FakeTwilio
from gateway.events.wakeups import APPLICATION_NAME
from tests.support import (
    TOKEN,
    Agent,
    Daemon,
    GatewayConfig,
    eventually,
    fresh_postgres,
    twilio_channel,
    webchat_channel,
)

SITE = "http://shop.example.com"
PASSWORD = "correct horse battery"
#: the fallback poll, far longer than the bound on each arrival below
POLL_SECONDS = 60.0
#: a safety bound on each arrival, not a timing: a NOTIFY wakes the node at once (without it,
#: only an unrelated write of the node's own, such as a start-up sweep, would)
ARRIVES_WITHIN = 5.0
#: arrivals checked one after the other, so that no unrelated write can carry them all
ROUNDS = 5


@asynccontextmanager
async def two_nodes(
    postgres_url: str, folder: Path, twilio: FakeTwilio
) -> AsyncIterator[tuple[Daemon, Daemon]]:
    """Nodes A and B: the same configuration and database, each at its own address."""
    with fresh_postgres(postgres_url) as url:
        config = GatewayConfig(
            database_url=url,
            database_poll_seconds=POLL_SECONDS,
            tokens={"crm": TOKEN},
            agents=[Agent.with_password("alice", PASSWORD)],
            channels=[webchat_channel(allowed_origins=[SITE]), twilio_channel(fake=twilio)],
        )
        a = Daemon(folder, config, name="node-a")
        b = Daemon(folder, config, name="node-b")
        await a.start()
        await b.start()
        try:
            yield a, b
        finally:
            await a.stop()
            await b.stop()


async def next_json(ws: aiohttp.ClientWebSocketResponse, wanted: Any) -> dict[str, Any]:
    """The first frame `wanted(frame)` accepts, within ARRIVES_WITHIN."""
    async with asyncio.timeout(ARRIVES_WITHIN):
        while True:
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, message
            frame: dict[str, Any] = json.loads(message.data)
            if wanted(frame):
                return frame


async def agent_page(http: aiohttp.ClientSession, node: Daemon) -> aiohttp.ClientWebSocketResponse:
    """Alice logged in on `node`, with the inbox page's live socket open."""
    page = {"X-Requested-With": "inbox", "Origin": node.url}
    login = {"username": "alice", "password": PASSWORD}
    async with http.post(f"{node.url}/inbox/api/login", json=login, headers=page) as r:
        assert r.status == 200, await r.text()
    inbox = await http.ws_connect(f"{node.url}/inbox/ws", headers=page)
    await next_json(inbox, lambda f: f.get("type") == "hello")
    return inbox


def from_business(frame: dict[str, Any]) -> bool:
    return (
        frame.get("type") == "message"
        and frame["message"]["direction"] == "BUSINESS_TO_PARTICIPANT"
    )


def text_of(message: dict[str, Any]) -> str:
    return str(message["content"]["basic"]["items"][0]["text"])


async def test_an_agents_reply_through_node_a_reaches_a_visitor_on_node_b(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        origin = {"Origin": SITE}
        async with http.post(f"{b.url}/channels/chat/sessions", json={}, headers=origin) as r:
            assert r.status == 200, await r.text()
            session = await r.json()
        visitor = await http.ws_connect(
            f"{b.url}/channels/chat/ws", params={"token": session["token"]}, headers=origin
        )
        for n in range(ROUNDS):
            text = f"Your order has shipped ({n})"
            reply = {
                "conversationId": session["conversationId"],
                "message": {"content": {"basic": {"items": [{"text": text}]}}},
            }
            async with http.post(f"{a.url}/inbox/v2/messages", json=reply, headers=a.auth) as r:
                assert r.status == 200, await r.text()
            frame = await next_json(visitor, from_business)
            assert text_of(frame["message"]) == text
        await visitor.close()


async def test_an_sms_through_node_b_reaches_an_agents_page_on_node_a(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the nodes answer at 127.0.0.1
    async with (
        two_nodes(postgres_url, tmp_path, twilio) as (a, b),
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        inbox = await agent_page(http, a)
        for n in range(ROUNDS):
            text = f"Is the shop open on Sunday? ({n})"
            answer = await twilio.post_inbound(
                f"{b.url}/channels/sms/inbound", "+15550007777", text
            )
            assert answer.status == 200
            event = await next_json(inbox, lambda f: f.get("slug") == "message_sent_to_business")
            assert text_of(event["actionEvent"]["body"]["message"]) == text
        await inbox.close()


def listening(server_url: str, database: str, terminate: bool = False) -> int:
    """How many nodes LISTEN on `database` (after ending their connections, if `terminate`)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    with psycopg.connect(server_url, autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(query, (database, APPLICATION_NAME))]
        if terminate:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


async def test_a_node_whose_listening_connection_dropped_listens_again(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        two_nodes(postgres_url, tmp_path, twilio) as (a, b),
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        database = a.config.database_url.rsplit("/", 1)[1]
        await eventually(lambda: listening(postgres_url, database) == 2)
        assert listening(postgres_url, database, terminate=True) == 2
        await eventually(lambda: listening(postgres_url, database) == 2)
        inbox = await agent_page(http, a)
        for n in range(ROUNDS):
            text = f"Still there? ({n})"
            answer = await twilio.post_inbound(
                f"{b.url}/channels/sms/inbound", "+15550007777", text
            )
            assert answer.status == 200
            event = await next_json(inbox, lambda f: f.get("slug") == "message_sent_to_business")
            assert text_of(event["actionEvent"]["body"]["message"]) == text
        await inbox.close()
        assert "not listening for other nodes' events" in a.log.read_text()
