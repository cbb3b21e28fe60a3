"""Two or three daemons on one PostgreSQL, as a shop runs nodes: what the node tests share."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.support import (
    TOKEN,
    Agent,
    Daemon,
    GatewayConfig,
    fresh_postgres,
    twilio_channel,
    webchat_channel,
)

SITE = "http://shop.example.com"
PASSWORD = "correct horse battery"
#: the secret the shop's site signs its users' ids with
IDENTITY_SECRET = "site-identity-secret"
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
            channels=[
                webchat_channel(allowed_origins=[SITE], identity_secret=IDENTITY_SECRET),
                twilio_channel(fake=twilio),
            ],
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


@dataclass
class Visitor:
    """A web chat visitor connected to one node, as the widget connects."""

    session: dict[str, Any]
    socket: aiohttp.ClientWebSocketResponse

    @property
    def conversation_id(self) -> str:
        return str(self.session["conversationId"])

    async def next_from_business(self) -> str:
        """The text of the next business message the visitor's socket gets."""
        frame = await next_json(self.socket, from_business)
        return text_of(frame["message"])


async def visitor(http: aiohttp.ClientSession, node: Daemon, user_id: str | None = None) -> Visitor:
    """A visitor on `node`: anonymous, or the site's user `user_id` (signed by the site)."""
    body: dict[str, Any] = {}
    if user_id is not None:
        signature = hmac.new(IDENTITY_SECRET.encode(), user_id.encode(), hashlib.sha256)
        body = {"identity": {"userId": user_id, "signature": signature.hexdigest()}}
    origin = {"Origin": SITE}
    async with http.post(f"{node.url}/channels/chat/sessions", json=body, headers=origin) as r:
        assert r.status == 200, await r.text()
        session: dict[str, Any] = await r.json()
    socket = await http.ws_connect(
        f"{node.url}/channels/chat/ws", params={"token": session["token"]}, headers=origin
    )
    return Visitor(session, socket)


async def api(http: aiohttp.ClientSession, node: Daemon, path: str, body: Any) -> dict[str, Any]:
    """POST to the REST API of `node`; the answer, which must be 200."""
    async with http.post(f"{node.url}/inbox/v2{path}", json=body, headers=node.auth) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == 200, answer
        return answer


async def reply(http: aiohttp.ClientSession, node: Daemon, conversation_id: str, text: str) -> None:
    """An agent's text reply through `node`'s API (sendMessage)."""
    content = {"basic": {"items": [{"text": text}]}}
    await api(
        http,
        node,
        "/messages",
        {"conversationId": conversation_id, "message": {"content": content}},
    )


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
