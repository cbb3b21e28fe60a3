"""A web chat visitor presses the business's buttons, and only those."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlmodel import Session, select

from adapters.twilio.fake import FakeTwilio
from gateway.store.models import EventRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.gateway.test_webchat_identity import channels, session

CARD = {
    "template": {
        "title": "Your refund",
        "buttons": [
            {"label": "Approve", "postbackProperties": {"interactionId": "refund:approve"}}
        ],
    }
}


def pressed(live: LiveGateway) -> list[dict[str, Any]]:
    with Session(live.gateway.db.engine) as db:
        events = db.exec(select(EventRow).where(EventRow.slug == "button_interacted"))
        return [dict(event.body) for event in events]


async def test_a_button_on_the_visitors_own_card_is_not_a_press(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """A visitor could write a card with any interactionId and press it: the CRM got a
    `button_interacted` as if the business had offered that button."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    visitor = await session(live, {})
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={visitor['token']}") as ws,
    ):
        await ws.send_json({"type": "message", "clientMessageId": "c1", "content": CARD})
        ack = await ws.receive_json(timeout=5)
        assert ack["type"] == "ack"
        interact = {"type": "interact", "messageId": ack["message"]["id"]}
        await ws.send_json({**interact, "interactionId": "refund:approve"})
        error = await ws.receive_json(timeout=5)
        assert (error["type"], error["code"]) == ("error", "BAD_FRAME")

        # the same card sent by the business is pressed
        body = {"conversationId": visitor["conversationId"], "message": {"content": CARD}}
        async with http.post(live.url + "/inbox/v2/messages", json=body, headers=live.auth) as r:
            assert r.status == 200
            business_card = (await r.json())["message"]["id"]
        await ws.send_json(
            {"type": "interact", "messageId": business_card, "interactionId": "refund:approve"}
        )
        await ws.send_json({"type": "sync", "afterSequence": "0"})
        while (frame := await ws.receive_json(timeout=5))["type"] != "history":
            assert frame["type"] != "error", frame
    assert [(p["messageId"], p["interactionId"]) for p in pressed(live)] == [
        (business_card, "refund:approve")
    ]
