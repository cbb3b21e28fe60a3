"""Sending through the real python-facebook-api client against the loopback FakeGraph."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.messenger import MessengerAdapter, MessengerConfig
from adapters.messenger.fake import FakeGraph
from channels import (
    CardPart,
    Choice,
    LinkButton,
    Media,
    MediaPart,
    MessageContent,
    NativePart,
    OutboundPart,
    Part,
    QuickRepliesPart,
    SendError,
    TextPart,
)
from channels.testing import RecordingHost

PSID = "6847213315330411"
TOKEN = "EAAG-page-token-never-logged"
SECRET = "app-secret-never-logged"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    graph = FakeGraph(access_token=TOKEN, app_secret=SECRET)
    await graph.start()
    yield graph
    await graph.stop()


def build(fake: FakeGraph, **overrides: object) -> MessengerAdapter:
    settings: dict[str, object] = {
        "type": "messenger",
        "page_id": "104060582475931",
        "page_access_token": TOKEN,
        "app_secret": SECRET,
        "verify_token": "let-me-in",
        "graph_base_url": fake.base_url,
    }
    settings.update(overrides)
    return MessengerAdapter("facebook", MessengerConfig.model_validate(settings), RecordingHost())


@pytest.fixture
async def adapter(fake: FakeGraph) -> AsyncIterator[MessengerAdapter]:
    messenger = build(fake)
    await messenger.start()
    yield messenger
    await messenger.stop()


def out(part: Part, *, agent_window: bool = False, is_response: bool = True) -> OutboundPart:
    return OutboundPart(
        part=part,
        recipient=PSID,
        message_id="msg-1",
        conversation_id="conv-1",
        agent_window=agent_window,
        is_response=is_response,
    )


async def test_text_is_sent_as_a_response_and_its_mid_returned(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    result = await adapter.send(out(TextPart("Hello ✓")))
    [sent] = fake.sent
    assert sent["recipient"] == {"id": PSID}
    assert sent["messaging_type"] == "RESPONSE" and sent["tag"] is None
    assert sent["message"] == {"text": "Hello ✓"}
    assert result.provider_message_id == sent["message_id"]
    assert result.provider_message_id.startswith("m_")


async def test_a_message_that_answers_nothing_goes_as_an_update(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    await adapter.send(out(TextPart("Your order shipped"), is_response=False))
    assert fake.sent[0]["messaging_type"] == "UPDATE"


async def test_agent_window_sends_use_the_human_agent_tag(fake: FakeGraph) -> None:
    messenger = build(fake, human_agent_tag=True)
    await messenger.start()
    try:
        await messenger.send(out(TextPart("Sorry for the wait"), agent_window=True))
    finally:
        await messenger.stop()
    assert fake.sent[0]["messaging_type"] == "MESSAGE_TAG"
    assert fake.sent[0]["tag"] == "HUMAN_AGENT"


@pytest.mark.parametrize("kind", ["image", "video", "audio", "file"])
async def test_media_goes_as_a_reusable_attachment_of_its_kind(
    adapter: MessengerAdapter, fake: FakeGraph, kind: str
) -> None:
    media = Media(url=f"https://shop.example.com/a.{kind}", kind=kind)  # type: ignore[arg-type]
    await adapter.send(out(MediaPart(media)))
    assert fake.sent[0]["message"] == {
        "attachment": {
            "type": kind,
            "payload": {"url": f"https://shop.example.com/a.{kind}", "is_reusable": True},
        }
    }


async def test_a_card_with_three_buttons_is_a_generic_template(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    card = CardPart(
        title="Blue mug",
        subtitle="Stoneware, 350 ml",
        image_url="https://shop.example.com/mug.jpg",
        buttons=(
            LinkButton("See it", "https://shop.example.com/mug"),
            Choice("Buy", "buy-mug"),
            Choice("Ask us", "ask-mug"),
        ),
    )
    await adapter.send(out(card))
    assert fake.sent[0]["message"] == {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [
                    {
                        "title": "Blue mug",
                        "subtitle": "Stoneware, 350 ml",
                        "image_url": "https://shop.example.com/mug.jpg",
                        "buttons": [
                            {
                                "type": "web_url",
                                "url": "https://shop.example.com/mug",
                                "title": "See it",
                            },
                            {"type": "postback", "title": "Buy", "payload": "buy-mug"},
                            {"type": "postback", "title": "Ask us", "payload": "ask-mug"},
                        ],
                    }
                ],
            },
        }
    }


async def test_quick_replies_carry_titles_and_payloads(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    part = QuickRepliesPart("When suits you?", (Choice("Today", "d0"), Choice("Tomorrow", "d1")))
    await adapter.send(out(part))
    assert fake.sent[0]["message"] == {
        "text": "When suits you?",
        "quick_replies": [
            {"content_type": "text", "title": "Today", "payload": "d0"},
            {"content_type": "text", "title": "Tomorrow", "payload": "d1"},
        ],
    }


@pytest.mark.parametrize(
    "part",
    [
        NativePart(MessageContent.of_text("hi")),
        TextPart("look", media=(Media("https://x.example/a.png", "image"),)),
    ],
    ids=["native", "text-with-media"],
)
async def test_parts_messenger_cannot_show_fail_permanently_without_a_call(
    adapter: MessengerAdapter, fake: FakeGraph, part: Part
) -> None:
    with pytest.raises(SendError) as caught:
        await adapter.send(out(part))
    assert not caught.value.retryable
    assert fake.attempts == []


@pytest.mark.parametrize("code,status", [(613, None), (4, None), (2, None), (1200, 500)])
async def test_rate_limits_temporary_errors_and_5xx_are_retryable(
    adapter: MessengerAdapter, fake: FakeGraph, code: int, status: int | None
) -> None:
    fake.fail_next(code, status=status)
    with pytest.raises(SendError) as caught:
        await adapter.send(out(TextPart("hi")))
    assert caught.value.retryable
    assert fake.sent == []
    # and the retry the gateway makes later goes through
    assert (await adapter.send(out(TextPart("hi")))).provider_message_id


@pytest.mark.parametrize(
    "code,subcode,ours",
    [
        (551, 1545041, "PERSON_UNAVAILABLE"),
        (10, 2018278, "OUTSIDE_MESSAGING_WINDOW"),
        (100, 2018001, "NO_SUCH_USER"),
        (100, None, "GRAPH_100"),
    ],
)
async def test_refusals_about_the_person_fail_permanently_with_a_clear_reason(
    adapter: MessengerAdapter, fake: FakeGraph, code: int, subcode: int | None, ours: str
) -> None:
    fake.fail_next(code, subcode=subcode)
    with pytest.raises(SendError) as caught:
        await adapter.send(out(TextPart("hi")))
    assert not caught.value.retryable and not caught.value.config_problem
    assert caught.value.code == ours


async def test_outside_the_window_message_says_so(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    fake.fail_next(10, subcode=2018278)
    with pytest.raises(SendError) as caught:
        await adapter.send(out(TextPart("hi")))
    assert "24-hour" in caught.value.message


async def test_a_refused_token_is_a_logged_config_problem_without_the_token(
    fake: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    messenger = build(fake, page_access_token="EAAG-revoked-token-secret")
    await messenger.start()
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(SendError) as caught:
            await messenger.send(out(TextPart("hi")))
    finally:
        await messenger.stop()
    assert caught.value.config_problem and not caught.value.retryable
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "facebook" in errors[0].getMessage()
    assert "configuration" in errors[0].getMessage()
    assert "EAAG-revoked-token-secret" not in caplog.text
    assert "EAAG-revoked-token-secret" not in str(caught.value)


async def test_a_graph_that_does_not_answer_in_time_is_retryable(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    adapter.send_timeout = 0.2
    fake.delay = 1.0
    with pytest.raises(SendError) as caught:
        await adapter.send(out(TextPart("hi")))
    assert caught.value.retryable
    assert caught.value.code == "TIMEOUT"


async def test_an_unreachable_graph_is_a_retryable_network_error(fake: FakeGraph) -> None:
    messenger = build(fake, graph_base_url="http://127.0.0.1:9")
    await messenger.start()
    try:
        with pytest.raises(SendError) as caught:
            await messenger.send(out(TextPart("hi")))
    finally:
        await messenger.stop()
    assert caught.value.retryable
    assert TOKEN not in str(caught.value)


async def test_sends_before_start_are_refused_as_retryable(fake: FakeGraph) -> None:
    with pytest.raises(SendError) as caught:
        await build(fake).send(out(TextPart("hi")))
    assert caught.value.retryable


async def test_the_appsecret_proof_goes_with_every_call(fake: FakeGraph) -> None:
    """With a wrong app secret Graph refuses the proof: the send must fail, not pass."""
    messenger = build(fake, app_secret="not-the-app-secret")
    await messenger.start()
    try:
        with pytest.raises(SendError) as caught:
            await messenger.send(out(TextPart("hi")))
    finally:
        await messenger.stop()
    assert caught.value.code == "GRAPH_100"
    assert fake.sent == []


async def test_a_proxy_error_page_is_classified_by_its_http_status() -> None:
    """Graph's edge sometimes answers HTML; the library cannot read it, the status tells."""

    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(
            status=502,
            text="<html>Bad Gateway</html>",
            content_type="text/html",
            headers={"Retry-After": "30"},
        )

    app = web.Application()
    app.router.add_post("/v24.0/me/messages", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    settings = {
        "type": "messenger",
        "page_id": "1",
        "page_access_token": TOKEN,
        "app_secret": SECRET,
        "verify_token": "v",
        "graph_base_url": f"http://127.0.0.1:{port}",
    }
    messenger = MessengerAdapter(
        "facebook", MessengerConfig.model_validate(settings), RecordingHost()
    )
    await messenger.start()
    try:
        with pytest.raises(SendError) as caught:
            await messenger.send(out(TextPart("hi")))
    finally:
        await messenger.stop()
        await runner.cleanup()
    assert caught.value.retryable
    assert caught.value.retry_after == 30
