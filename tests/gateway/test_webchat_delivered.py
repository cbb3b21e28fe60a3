"""A reply that reaches a web chat visitor's page is reported DELIVERED, through the real
dispatcher and the visitor's receipt."""

from __future__ import annotations

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


async def test_a_reply_the_visitor_received_is_delivered(start_gateway: StartGateway) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with aiohttp.ClientSession() as http:
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
            conversation_id = ack["message"]["conversationId"]
            reply = {
                "conversationId": conversation_id,
                "message": {"content": {"basic": {"items": [{"text": "Hi there"}]}}},
            }
            async with http.post(
                f"{live.url}/inbox/v2/messages", json=reply, headers=live.auth
            ) as response:
                assert response.status == 200
                message_id = (await response.json())["message"]["id"]
            frame = await ws.receive_json(timeout=5)
            assert (frame["type"], frame["message"]["id"]) == ("message", message_id)

            async def delivered() -> bool:
                return (await delivery_of(live, message_id))["status"] == "DELIVERED"

            await eventually(delivered)
