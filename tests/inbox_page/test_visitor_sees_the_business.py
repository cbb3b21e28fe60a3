"""A web chat visitor sees replies signed by the business, never by the agent or the API token."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientWebSocketResponse

from tests.inbox_page.conftest import PAGE, Inbox, InboxFactory

ORIGIN = {"Origin": "http://127.0.0.1"}
BUSINESS = {"business": {"name": "Test Shop"}}
TOKEN = "crm-token-0123456789abcdef"


async def next_of(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=5)
        if frame["type"] == kind:
            return frame


async def test_live_and_history_frames_show_the_business_not_who_wrote(agent: Inbox) -> None:
    response = await agent.client.post("/channels/chat/sessions", json={}, headers=ORIGIN)
    session = await response.json()
    ws = await agent.client.ws_connect(
        f"/channels/chat/ws?token={session['token']}", headers=ORIGIN
    )
    await ws.send_json(
        {
            "type": "message",
            "clientMessageId": "c1",
            "content": {"basic": {"items": [{"text": "Where is my parcel?"}]}},
        }
    )
    mine = (await next_of(ws, "ack"))["message"]
    assert mine["sender"] == {"anonymousVisitorId": session["anonymousVisitorId"]}

    # alice answers from the inbox page (live); a CRM's reply is stored beside it (history)
    reply = {"message": {"content": {"basic": {"items": [{"text": "On its way!"}]}}}}
    answered = await agent.client.post(
        f"/inbox/api/conversations/{session['conversationId']}/messages", json=reply, headers=PAGE
    )
    assert answered.status == 200, await answered.text()
    live_agent = (await next_of(ws, "message"))["message"]
    await agent.outbound(session["conversationId"], "Tracking: 1Z999")

    await ws.send_json({"type": "sync", "afterSequence": "0"})
    history = (await next_of(ws, "history"))["messages"]
    await ws.close()

    assert [m["content"]["basic"]["items"][0]["text"] for m in history] == [
        "Where is my parcel?",
        "On its way!",
        "Tracking: 1Z999",
    ]
    assert [m["sender"] for m in [live_agent, *history[1:]]] == [BUSINESS] * 3
    assert history[0]["sender"] == mine["sender"]
    shown = json.dumps([live_agent, history])
    assert "alice" not in shown and '"crm"' not in shown


async def test_a_message_recorded_as_the_visitors_shows_them_not_the_app(
    make_inbox: InboxFactory,
) -> None:
    """A CRM records a message as the visitor's (`PARTICIPANT_TO_BUSINESS`): the visitor sees
    it as their own, live and in history, never the API token's name."""
    inbox = await make_inbox(tokens={"crm": TOKEN})
    response = await inbox.client.post("/channels/chat/sessions", json={}, headers=ORIGIN)
    session = await response.json()
    ws = await inbox.client.ws_connect(
        f"/channels/chat/ws?token={session['token']}", headers=ORIGIN
    )
    recorded = {
        "conversationId": session["conversationId"],
        "message": {
            "direction": "PARTICIPANT_TO_BUSINESS",
            "content": {"basic": {"items": [{"text": "Order 1234, as told on the phone"}]}},
        },
    }
    answered = await inbox.client.post(
        "/inbox/v2/messages", json=recorded, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answered.status == 200, await answered.text()
    assert (await answered.json())["message"]["sender"] == {"appId": "crm"}  # inside, as is
    live = (await next_of(ws, "message"))["message"]

    await ws.send_json({"type": "sync", "afterSequence": "0"})
    history = (await next_of(ws, "history"))["messages"]
    await ws.close()

    visitor = {"anonymousVisitorId": session["anonymousVisitorId"]}
    assert [live["sender"], *(m["sender"] for m in history)] == [visitor, visitor]
    assert '"crm"' not in json.dumps([live, history])
