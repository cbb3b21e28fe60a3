"""FakeGraph's webhook side drives the adapter the way Meta does, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from adapters.messenger import MessengerAdapter, MessengerConfig
from adapters.messenger import fake as meta
from channels import DeliveryStatus, Direction, InboundMessage, StatusUpdate, WebhookRequest
from channels.testing import RecordingHost

SECRET = "app-secret"
PSID = "6847213315330411"


class Served:
    def __init__(self, host: RecordingHost, url: str) -> None:
        self.host = host
        self.url = url


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The adapter's routes behind aiohttp, mounted the way the gateway mounts them."""
    host = RecordingHost(channel_id="facebook")
    config = MessengerConfig(
        type="messenger",
        page_id=meta.DEFAULT_PAGE_ID,
        page_access_token="token",
        app_secret=SECRET,
        verify_token="let-me-in",
    )
    adapter = MessengerAdapter("facebook", config, host)
    app = web.Application()
    for route in adapter.routes():

        async def handle(request: web.Request, route_handler=route.handler) -> web.Response:  # type: ignore[no-untyped-def]
            frozen = WebhookRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.read(),
                public_url=str(request.url),
            )
            answer = await route_handler(frozen)
            return web.Response(
                status=answer.status, body=answer.body, content_type=answer.content_type
            )

        app.router.add_route(route.method, f"/channels/facebook/{route.path}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield Served(host, f"http://127.0.0.1:{port}/channels/facebook/webhook")
    await runner.cleanup()


async def test_a_signed_batch_from_the_fake_is_accepted_whole(served: Served) -> None:
    events = [
        meta.message_event(PSID, "Hello ☕", mid="m_1"),
        meta.quick_reply_event(PSID, "Today", "day-0", mid="m_2"),
        meta.postback_event(PSID, "Buy", "buy-mug", mid="m_3"),
        meta.attachment_event(
            PSID, "image", "https://cdn.example/s.png", sticker_id=369239263222822
        ),
        meta.delivery_event(PSID, ["m_out"], 1732680003500),
        meta.read_event(PSID, 1732680004500),
        meta.echo_event(PSID, "From the Page inbox", mid="m_4"),
        meta.reaction_event(PSID, "m_out"),
    ]
    status, body = await meta.post_events(served.url, SECRET, events)
    assert (status, body) == (200, "EVENT_RECEIVED")
    messages = [e for e in served.host.events if isinstance(e, InboundMessage)]
    assert [m.content.wire()["basic"]["items"][0] for m in messages][:3] == [
        {"text": "Hello ☕"},
        {"text": "Today"},
        {"text": "Buy"},
    ]
    assert [m.interaction_id for m in messages] == [None, "day-0", "buy-mug", None, None]
    assert messages[3].content.wire()["basic"]["items"] == [
        {"image": {"url": "https://cdn.example/s.png"}}
    ]
    assert messages[4].direction is Direction.BUSINESS_TO_PARTICIPANT
    statuses = [e.status for e in served.host.events if isinstance(e, StatusUpdate)]
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED, DeliveryStatus.READ]


async def test_the_fake_signs_with_the_secret_it_is_given(served: Served) -> None:
    status, _ = await meta.post_event(served.url, "wrong-secret", meta.message_event(PSID, "hi"))
    assert status == 403
    assert served.host.events == []


async def test_verification_over_http_answers_the_challenge(served: Served) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "987"}
    async with aiohttp.ClientSession() as session, session.get(served.url, params=query) as r:
        assert (r.status, await r.text()) == (200, "987")


async def test_the_fake_accepts_json_bodies_as_well_as_forms() -> None:
    graph = meta.FakeGraph(access_token="t", app_secret=None)
    base = await graph.start()
    try:
        body = {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": "hi"},
            "access_token": "t",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{base}/v24.0/me/messages", json=body) as response,
        ):
            answer = await response.json()
            assert response.content_type == "application/json"
    finally:
        await graph.stop()
    assert answer["recipient_id"] == PSID and answer["message_id"].startswith("m_")
    assert graph.sent[0]["message"] == {"text": "hi"}


async def test_the_fake_answers_errors_in_graph_shape_with_graph_statuses() -> None:
    graph = meta.FakeGraph(access_token="t", app_secret=None)
    base = await graph.start()
    graph.fail_next(2, times=2)
    form = {
        "recipient": json.dumps({"id": PSID}),
        "messaging_type": "RESPONSE",
        "message": json.dumps({"text": "x" * 2001}),
        "access_token": "t",
    }
    answers = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(4):
                async with session.post(f"{base}/v24.0/me/messages", data=form) as response:
                    answers.append((response.status, (await response.json())["error"]))
            form["access_token"] = "bad"
            async with session.post(f"{base}/v24.0/me/messages", data=form) as response:
                answers.append((response.status, (await response.json())["error"]))
    finally:
        await graph.stop()
    assert [(s, e["code"]) for s, e in answers] == [
        (503, 2),
        (503, 2),
        (400, 100),
        (400, 100),
        (400, 190),
    ]
    assert all({"message", "type", "code", "fbtrace_id"} <= set(e) for _, e in answers)
    assert graph.sent == []
