"""A third-party adapter, found only through its entry point, works like a built-in one."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlmodel import Session, select

from gateway.plugins.registry import installed_adapters
from gateway.store.models import EventRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import channel
from tests.support.polling import eventually

echo_adapter = pytest.importorskip("echo_adapter")
CHANNEL = channel("mail", "echo", outbox_label="mail")


async def call(live: LiveGateway, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, live.url + path, json=body, headers=live.auth) as response,
    ):
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def sent_to(message_id: str) -> list[Any]:
    """The parts the plug-in channel was given for the message, once it got any."""
    return await eventually(
        lambda: [p for p in echo_adapter.EchoAdapter.sent if p.message_id == message_id]
    )


def test_the_plugin_is_found_through_its_entry_point() -> None:
    assert installed_adapters()["echo"] is echo_adapter.EchoAdapter


async def test_a_plugin_channel_receives_answers_and_numbered_choices(
    start_gateway: StartGateway,
) -> None:
    echo_adapter.EchoAdapter.sent.clear()
    live = await start_gateway(CHANNEL)
    async with aiohttp.ClientSession() as http:
        inbound = {"id": "in-1", "from": "ann@example.com", "text": "Can I change my order?"}
        async with http.post(f"{live.url}/channels/mail/inbound", json=inbound) as response:
            assert response.status == 200
    [conversation] = (await call(live, "GET", "/inbox/v2/conversations"))["conversations"]
    assert conversation["channelIds"] == ["mail"]

    buttons = [
        {"label": "Change the address", "postbackProperties": {"interactionId": "ADDRESS"}},
        {"label": "Cancel it", "postbackProperties": {"interactionId": "CANCEL"}},
    ]
    reply = (
        await call(
            live,
            "POST",
            "/inbox/v2/messages",
            {
                "conversationId": conversation["id"],
                "message": {"content": {"template": {"title": "Sure!", "buttons": buttons}}},
            },
        )
    )["message"]
    parts = await sent_to(reply["id"])
    text = "\n".join(p.part.text for p in parts)
    # The plug-in declared text only, 50 characters a part: the buttons became numbers.
    assert all(len(p.part.text) <= 50 for p in parts)
    assert "1) Change the address" in text and "2) Cancel it" in text

    # The menu is remembered when the send is recorded; a person answers after that.
    async def sent() -> bool:
        stored = (await call(live, "GET", f"/inbox/v2/messages/{reply['id']}"))["message"]
        return bool(stored["delivery"]["status"] == "SENT")

    await eventually(sent)
    async with aiohttp.ClientSession() as http:
        answer = {"id": "in-2", "from": "ann@example.com", "text": "2"}
        async with http.post(f"{live.url}/channels/mail/inbound", json=answer) as response:
            assert response.status == 200
    with Session(live.gateway.db.engine) as session:
        pressed = [e for e in session.exec(select(EventRow)) if e.slug == "button_interacted"]
    assert [(e.body["interactionId"], e.body["messageId"]) for e in pressed] == [
        ("CANCEL", reply["id"])
    ]
