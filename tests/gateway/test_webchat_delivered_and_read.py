"""A reply that reaches a web chat visitor's page is reported DELIVERED, and READ once the
visitor has read it, through the real dispatcher and the visitor's receipts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import webchat_channel
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
