"""A reply that reaches a web chat visitor's page is recorded SENT in the commit that stores it,
reported DELIVERED, and READ once the visitor has read it, through the visitor's receipts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import CookieJar
from sqlmodel import Session, col, select

from gateway.background import DISPATCHER
from gateway.store.models import EventRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import Agent, webchat_channel
from tests.support.polling import eventually

SITE = "https://shop.example.com"


async def delivery_of(live: LiveGateway, message_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{live.url}/inbox/v2/messages/{message_id}", headers=live.auth) as response,
    ):
        assert response.status == 200
        delivery: dict[str, Any] = (await response.json())["message"]["delivery"]
        return delivery


@asynccontextmanager
async def visitor(
    http: aiohttp.ClientSession, live: LiveGateway
) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, str]]:
    """A visitor's socket, once the visitor has said hello; and the conversation's id."""
    async with http.post(
        f"{live.url}/channels/chat/sessions", json={}, headers={"Origin": SITE}
    ) as response:
        token = (await response.json())["token"]
    async with http.ws_connect(
        f"{live.url}/channels/chat/ws?token={token}", headers={"Origin": SITE}
    ) as ws:
        hello = {
            "type": "message",
            "clientMessageId": "c1",
            "content": {"basic": {"items": [{"text": "Hello?"}]}},
        }
        await ws.send_json(hello)
        ack = await ws.receive_json(timeout=5)
        yield ws, ack["message"]["conversationId"]


async def reply(
    http: aiohttp.ClientSession,
    live: LiveGateway,
    ws: aiohttp.ClientWebSocketResponse,
    conversation_id: str,
) -> dict[str, Any]:
    """An agent's reply, once it reached the visitor's page."""
    body = {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"text": "Hi there"}]}}},
    }
    async with http.post(f"{live.url}/inbox/v2/messages", json=body, headers=live.auth) as r:
        assert r.status == 200
        message: dict[str, Any] = (await r.json())["message"]
    frame = await ws.receive_json(timeout=5)
    assert (frame["type"], frame["message"]["id"]) == ("message", message["id"])
    return message


async def test_a_reply_the_visitor_received_is_delivered(start_gateway: StartGateway) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with aiohttp.ClientSession() as http, visitor(http, live) as (ws, conversation_id):
        message = await reply(http, live, ws, conversation_id)

        async def delivered() -> bool:
            return (await delivery_of(live, message["id"]))["status"] == "DELIVERED"

        await eventually(delivered)


async def test_a_reply_is_sent_and_delivered_without_the_dispatcher(
    start_gateway: StartGateway,
) -> None:
    """The visitor's page has the reply from its commit on: it is recorded SENT in that
    commit, and DELIVERED from the visitor's receipt, though the dispatcher sends nothing;
    webhooks see it announced, then SENT, then DELIVERED."""
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    assert live.gateway.directory["chat"].sent_when_stored
    dispatcher = live.app[DISPATCHER]
    await dispatcher.stop(grace=0)
    async with aiohttp.ClientSession() as http, visitor(http, live) as (ws, conversation_id):
        message = await reply(http, live, ws, conversation_id)
        assert message["delivery"]["status"] == "PENDING"  # as sendMessage answers a send

        async def delivered() -> bool:
            return (await delivery_of(live, message["id"]))["status"] == "DELIVERED"

        await eventually(delivered)

    def announced(session: Session) -> list[tuple[str, str]]:
        rows = session.exec(
            select(EventRow)
            .where(col(EventRow.entity_id) == message["id"])
            .order_by(col(EventRow.seq))
        )
        return [(row.slug, row.body.get("delivery", {}).get("status", "")) for row in rows]

    assert await live.gateway.db.read(announced) == [
        ("message_sent_to_participant", ""),
        ("message_delivery_updated", "SENT"),
        ("message_delivery_updated", "DELIVERED"),
    ]
    async with aiohttp.ClientSession() as http, http.get(f"{live.url}/metrics") as response:
        metrics = await response.text()
    assert 'inbox_messages_out_total{channel="chat"} 1.0' in metrics  # counted as sent


async def test_an_agent_reply_from_the_inbox_page_is_announced_before_it_is_sent(
    start_gateway: StartGateway,
) -> None:
    """The agents' live page (and every webhook) sees the reply itself first, then its SENT."""
    live = await start_gateway(
        webchat_channel(allowed_origins=[SITE]), agents=[Agent.with_password("alice", "pw")]
    )
    page = {"X-Requested-With": "inbox", "Origin": live.url}
    async with (
        aiohttp.ClientSession(live.url, cookie_jar=CookieJar(unsafe=True)) as agent,
        visitor(agent, live) as (ws, conversation_id),
    ):
        login = {"username": "alice", "password": "pw"}
        async with agent.post("/inbox/api/login", json=login, headers=page) as response:
            assert response.status == 200
        async with agent.ws_connect("/inbox/ws", headers=page) as inbox:
            assert (await inbox.receive_json(timeout=5))["type"] == "hello"
            answer = {"message": {"content": {"basic": {"items": [{"text": "Hi there"}]}}}}
            path = f"/inbox/api/conversations/{conversation_id}/messages"
            async with agent.post(path, json=answer, headers=page) as response:
                assert response.status == 200, await response.text()
                message_id = (await response.json())["message"]["id"]
            seen: list[str] = []
            while len(seen) < 2:
                frame = await inbox.receive_json(timeout=5)
                if frame.get("entityId") == message_id:
                    seen.append(frame["slug"])
        assert (await ws.receive_json(timeout=5))["message"]["id"] == message_id

    assert seen == ["message_sent_to_participant", "message_delivery_updated"]

    def announced(session: Session) -> list[str]:
        rows = session.exec(
            select(EventRow)
            .where(col(EventRow.entity_id) == message_id)
            .order_by(col(EventRow.seq))
        )
        return [row.slug for row in rows][:2]

    assert await live.gateway.db.read(announced) == seen


async def test_a_paced_web_chat_channel_leaves_its_replies_to_the_dispatcher(
    start_gateway: StartGateway,
) -> None:
    """Its pace holds for replies too: they wait for the dispatcher, which keeps it."""
    live = await start_gateway(webchat_channel(allowed_origins=[SITE], rate_per_second=5))
    assert not live.gateway.directory["chat"].sent_when_stored
    await live.app[DISPATCHER].stop(grace=0)
    async with aiohttp.ClientSession() as http, visitor(http, live) as (ws, conversation_id):
        message = await reply(http, live, ws, conversation_id)
        # stored and shown to the visitor, but not recorded sent: nobody dispatched it
        assert (await delivery_of(live, message["id"]))["status"] == "PENDING"


async def test_a_read_receipt_reads_the_visitors_replies_up_to_its_sequence_only(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with (
        aiohttp.ClientSession() as http,
        visitor(http, live) as (ws, conversation_id),
        visitor(http, live) as (other_ws, other_conversation_id),
    ):
        first = await reply(http, live, ws, conversation_id)
        second = await reply(http, live, ws, conversation_id)
        others = await reply(http, live, other_ws, other_conversation_id)
        everyone = (first, second, others)

        async def delivered() -> bool:
            statuses = [(await delivery_of(live, m["id"]))["status"] for m in everyone]
            return statuses == ["DELIVERED"] * 3

        await eventually(delivered)
        await ws.send_json({"type": "read", "sequence": first["sequence"]})

        async def first_read() -> bool:
            return (await delivery_of(live, first["id"]))["status"] == "READ"

        await eventually(first_read)
        # the receipt is applied in one transaction: the others are settled by now
        assert (await delivery_of(live, second["id"]))["status"] == "DELIVERED"
        assert (await delivery_of(live, others["id"]))["status"] == "DELIVERED"
        await other_ws.send_json({"type": "read", "sequence": others["sequence"]})
        await ws.send_json({"type": "read", "sequence": second["sequence"]})

        async def all_read() -> bool:
            statuses = [(await delivery_of(live, m["id"]))["status"] for m in everyone]
            return statuses == ["READ"] * 3

        await eventually(all_read)
