"""The largest message a visitor may write reaches the gateway whole, over a real socket."""

from __future__ import annotations

import aiohttp

from adapters.twilio.fake import FakeTwilio
from adapters.webchat.protocol import MAX_FRAME_CHARS
from channels import MAX_ITEM_TEXT
from tests.gateway.conftest import StartGateway
from tests.gateway.test_webchat_identity import channels, session, texts


async def test_a_message_of_twenty_full_items_is_stored_and_a_larger_frame_answered(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """Twenty items of 4,096 two-byte characters make a 164 KB frame: the socket's own limit
    was 64 KB, so it closed (1009) with no word, and the message was lost."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    visitor = await session(live, {})
    items = [{"text": "é" * MAX_ITEM_TEXT} for _ in range(20)]
    largest = {"type": "message", "clientMessageId": "big", "content": {"basic": {"items": items}}}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={visitor['token']}") as ws,
    ):
        await ws.send_json(largest)
        ack = await ws.receive_json(timeout=5)
        assert (ack["type"], ack["clientMessageId"]) == ("ack", "big")
        # past what the protocol reads: its error frame, and the socket stays open
        await ws.send_str('{"type": "message", "x": "' + "a" * MAX_FRAME_CHARS + '"}')
        error = await ws.receive_json(timeout=5)
        assert (error["type"], error["code"]) == ("error", "BAD_FRAME")
        await ws.send_json({"type": "sync", "afterSequence": "0"})
        history = await ws.receive_json(timeout=5)
        assert history["type"] == "history" and len(history["messages"]) == 1
    assert await texts(live, visitor["conversationId"]) == ["é" * MAX_ITEM_TEXT]
