"""FakeTwilio speaks Twilio's wire format, and its webhooks pass the adapter's checks over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from aiohttp import BasicAuth, ClientSession, web

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.fake import FakeTwilio, segments
from channels import (
    DeliveryStatus,
    InboundMessage,
    MessageContent,
    OptChange,
    OutboundPart,
    SendError,
    StatusUpdate,
    TextPart,
    WebhookRequest,
    render,
)
from channels.content import Basic, BasicItem, Button, PostbackProperties, Template
from channels.testing import RecordingHost

SID = "AC" + "e5" * 16
TOKEN = "fake-test-token"
CUSTOMER = "+15550002222"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(account_sid=SID, auth_token=TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


async def serve(adapter: TwilioAdapter) -> web.AppRunner:
    """Mount the adapter's routes as the gateway does, with public_url from configuration."""
    app = web.Application()
    for route in adapter.routes():

        async def handle(
            request: web.Request, route_handler: object = route.handler
        ) -> web.Response:
            frozen = WebhookRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.read(),
                public_url=adapter.host.public_url + request.path_qs,
            )
            answer = await route_handler(frozen)  # type: ignore[operator]
            return web.Response(
                status=answer.status, body=answer.body, content_type=answer.content_type
            )

        app.router.add_post(f"/channels/sms/{route.path}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner


@pytest.fixture
async def gateway(fake: FakeTwilio) -> AsyncIterator[tuple[TwilioAdapter, RecordingHost]]:
    """The adapter behind a loopback HTTP server whose public URL is its own address."""
    host = RecordingHost(channel_id="sms", public_url="")
    config = TwilioConfig(
        type="twilio",
        account_sid=SID,
        auth_token=TOKEN,
        from_number="+15550001111",
        api_base_url=fake.base_url,
    )
    adapter = TwilioAdapter("sms", config, host)
    runner = await serve(adapter)
    host.public_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    await adapter.start()
    yield adapter, host
    await adapter.stop()
    await runner.cleanup()


async def test_inbound_posted_by_the_fake_is_verified_and_stored(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    _, host = gateway
    media = [("https://api.twilio.test/Media/ME1", "image/jpeg")]
    reply = await fake.post_inbound(
        host.public_url + "/channels/sms/inbound", CUSTOMER, "Hi there", media
    )
    assert reply.status == 200
    assert reply.content_type == "text/xml"
    assert reply.body.endswith("<Response />")
    [message] = host.events
    assert isinstance(message, InboundMessage)
    assert message.provider_message_id == reply.message_sid
    assert message.participant.address == CUSTOMER
    assert len(message.content.wire()["basic"]["items"]) == 2


async def test_inbound_signed_with_another_token_is_refused(
    gateway: tuple[TwilioAdapter, RecordingHost],
) -> None:
    _, host = gateway
    impostor = FakeTwilio(account_sid=SID, auth_token="guessed")
    reply = await impostor.post_inbound(host.public_url + "/channels/sms/inbound", CUSTOMER, "Hi")
    assert reply.status == 403
    assert host.events == []


async def test_stop_blocks_later_sends_like_twilio(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    adapter, host = gateway
    await fake.post_inbound(host.public_url + "/channels/sms/inbound", CUSTOMER, "STOP")
    assert isinstance(host.events[-1], OptChange)
    part = OutboundPart(TextPart("Sale!"), recipient=CUSTOMER, message_id="m", conversation_id="c")
    with pytest.raises(SendError) as raised:
        await adapter.send(part)
    assert raised.value.opted_out is True
    await fake.post_inbound(host.public_url + "/channels/sms/inbound", CUSTOMER, "START")
    assert (await adapter.send(part)).status is DeliveryStatus.SENT


async def test_status_callbacks_reach_the_adapter_for_a_sent_message(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    adapter, host = gateway
    part = OutboundPart(TextPart("Hello"), recipient=CUSTOMER, message_id="m", conversation_id="c")
    result = await adapter.send(part)
    callback = fake.sent[0]["StatusCallback"]
    assert callback == host.public_url + "/channels/sms/status"
    assert (await fake.post_status(callback, result.provider_message_id, "delivered")).status == 200
    failed = await fake.post_status(callback, result.provider_message_id, "undelivered", 30007)
    assert failed.status == 200
    delivered, undelivered = host.events
    assert delivered == StatusUpdate(DeliveryStatus.DELIVERED, result.provider_message_id)
    assert isinstance(undelivered, StatusUpdate)
    assert undelivered.error_code == "TWILIO_30007"


async def test_auto_status_reports_deliveries_by_itself(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    adapter, host = gateway
    fake.auto_status = ("sent", "delivered")
    part = OutboundPart(TextPart("Hello"), recipient=CUSTOMER, message_id="m", conversation_id="c")
    result = await adapter.send(part)
    for _ in range(200):
        if len(host.events) == 2:
            break
        await asyncio.sleep(0.02)
    assert [e.status for e in host.events if isinstance(e, StatusUpdate)] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ]
    assert all(
        e.provider_message_id == result.provider_message_id
        for e in host.events
        if isinstance(e, StatusUpdate)
    )


async def test_template_with_postback_buttons_goes_out_as_numbered_text(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    """SMS has no buttons: render() numbers them and the adapter sends plain text."""
    adapter, _ = gateway
    content = MessageContent(
        template=Template(
            title="Pick a size",
            buttons=[
                Button(label="Small", postback_properties=PostbackProperties(interaction_id="s")),
                Button(label="Large", postback_properties=PostbackProperties(interaction_id="l")),
            ],
        )
    )
    rendered = render(content, adapter.capabilities)
    for index, part in enumerate(rendered.parts):
        out = OutboundPart(
            part, recipient=CUSTOMER, message_id="m", conversation_id="c", index=index
        )
        await adapter.send(out)
    body = "\n".join(m["Body"] for m in fake.sent)
    assert "1) Small" in body and "2) Large" in body
    assert [c.interaction_id for c in rendered.menu] == ["s", "l"]


async def test_long_text_is_split_into_messages_twilio_accepts(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    adapter, _ = gateway
    content = MessageContent(basic=Basic(items=[BasicItem(text="word " * 700)]))
    for part in render(content, adapter.capabilities).parts:
        await adapter.send(
            OutboundPart(part, recipient=CUSTOMER, message_id="m", conversation_id="c")
        )
    assert len(fake.sent) == 3
    assert all(len(m["Body"]) <= 1600 for m in fake.sent)


async def test_create_answer_has_twilios_shape(fake: FakeTwilio) -> None:
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages.json"
    form = {"To": CUSTOMER, "From": "+15550001111", "Body": "Héllo ☃"}
    async with ClientSession() as session:
        async with session.post(url, data=form, auth=BasicAuth(SID, TOKEN)) as resp:
            assert resp.status == 201
            created = await resp.json()
        async with session.post(url, data=form, auth=BasicAuth(SID, "wrong")) as resp:
            assert resp.status == 401
            refused = await resp.json()
    assert created["sid"].startswith("SM") and len(created["sid"]) == 34
    assert created["status"] == "queued"
    assert created["num_segments"] == "1" and created["num_media"] == "0"
    assert created["date_created"].endswith("+0000")
    assert urlsplit(created["uri"]).path.endswith(f"/Messages/{created['sid']}.json")
    assert refused == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("body", "count"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("é" * 160, 1), ("☃" * 70, 1), ("☃" * 71, 2)],
)
def test_segments_follow_gsm7_and_ucs2_rules(body: str, count: int) -> None:
    assert segments(body) == count


async def test_inbound_media_is_fetchable_with_the_credentials_the_adapter_gives(
    fake: FakeTwilio, gateway: tuple[TwilioAdapter, RecordingHost]
) -> None:
    """Twilio media need the account's credentials, handed out for its own host only."""
    adapter, host = gateway
    url = fake.add_media(b"\x89PNG fake", "image/png")
    await fake.post_inbound(
        host.public_url + "/channels/sms/inbound", CUSTOMER, "", [(url, "image/png")]
    )
    [message] = host.events
    assert isinstance(message, InboundMessage)
    image_url = message.content.wire()["basic"]["items"][0]["image"]["url"]
    credentials = adapter.media_credentials(image_url)
    assert credentials is not None
    async with ClientSession() as session:
        async with session.get(image_url) as resp:
            assert resp.status == 401
        async with session.get(image_url, auth=BasicAuth(*credentials)) as resp:
            assert resp.status == 200
            assert await resp.read() == b"\x89PNG fake"
    assert adapter.media_credentials("https://evil.example.com/2010-04-01/Accounts/x") is None
