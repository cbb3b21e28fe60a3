"""Sending through the real python-facebook-api client against the loopback FakeGraph: a case
table, then what a table cannot hold (other settings, timeouts, an unreachable Graph API)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.messenger import MessengerAdapter
from adapters.messenger.fake import FakeGraph
from channels import (
    CardPart,
    Choice,
    LinkButton,
    Media,
    MediaPart,
    MessageContent,
    NativePart,
    QuickRepliesPart,
    SendError,
    TextPart,
)
from channels.testing import (
    CannedResponse,
    ExpectedRequest,
    SendCase,
    check_send_case,
    parametrize_cases,
)
from tests.adapters.messenger_support import (
    PSID,
    SEND,
    TOKEN,
    adapter,
    fake,
    graph_error,
    host,
    out,
)

METADATA = "inbox-gateway:msg-1:0"


def send_api(message: dict[str, Any], messaging_type: str = "RESPONSE") -> ExpectedRequest:
    """The Send API call for `message` (echo metadata included) to the PSID."""
    return ExpectedRequest(
        "POST",
        SEND,
        {
            "recipient": {"id": PSID},
            "messaging_type": messaging_type,
            "message": {**message, "metadata": METADATA},
        },
        absent=["tag"],
    )


CARD = CardPart(
    title="Blue mug",
    subtitle="Stoneware, 350 ml",
    image_url="https://shop.example.com/mug.jpg",
    buttons=(
        LinkButton("See it", "https://shop.example.com/mug"),
        Choice("Buy", "buy-mug"),
        Choice("Ask us", "ask-mug"),
    ),
)
GENERIC_TEMPLATE = {
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

SENDS = [
    SendCase(
        "a text is sent as a response and its mid returned",
        out(TextPart("Hello ✓")),
        requests=[send_api({"text": "Hello ✓"})],
        check=lambda result: result.provider_message_id.startswith("m_"),
    ),
    SendCase(
        "a message that answers nothing goes as an update",
        out(TextPart("Your order shipped"), is_response=False),
        requests=[send_api({"text": "Your order shipped"}, "UPDATE")],
    ),
    *[
        SendCase(
            f"{kind} media go as a reusable attachment of their kind",
            out(MediaPart(Media(f"https://shop.example.com/a.{kind}", kind))),  # type: ignore[arg-type]
            requests=[
                send_api(
                    {
                        "attachment": {
                            "type": kind,
                            "payload": {
                                "url": f"https://shop.example.com/a.{kind}",
                                "is_reusable": True,
                            },
                        }
                    }
                )
            ],
        )
        for kind in ["image", "video", "audio", "file"]
    ],
    SendCase(
        "a card with three buttons is a generic template",
        out(CARD),
        requests=[send_api(GENERIC_TEMPLATE)],
    ),
    SendCase(
        "quick replies carry titles and payloads",
        out(QuickRepliesPart("When suits you?", (Choice("Today", "d0"), Choice("Tomorrow", "d1")))),
        requests=[
            send_api(
                {
                    "text": "When suits you?",
                    "quick_replies": [
                        {"content_type": "text", "title": "Today", "payload": "d0"},
                        {"content_type": "text", "title": "Tomorrow", "payload": "d1"},
                    ],
                }
            )
        ],
    ),
    SendCase(
        "canonical content is refused without a call",
        out(NativePart(MessageContent.of_text("hi"))),
        requests=[],
        retryable=False,
    ),
    SendCase(
        "a text with media is refused without a call",
        out(TextPart("look", media=(Media("https://x.example/a.png", "image"),))),
        requests=[],
        retryable=False,
    ),
    *[
        SendCase(
            f"Graph error {code} is retried",
            out(TextPart("hi")),
            responses=[answer],
            retryable=True,
        )
        for code, answer in [
            (613, graph_error(613)),
            (4, graph_error(4)),
            (2, graph_error(2, status=503)),
            (1200, graph_error(1200, status=500)),
        ]
    ],
    *[
        SendCase(
            f"Graph error {code}/{subcode} about the person fails for good as {ours}",
            out(TextPart("hi")),
            responses=[graph_error(code, subcode)],
            retryable=False,
            error_code=ours,
            check=lambda error: not error.config_problem,
        )
        for code, subcode, ours in [
            (551, 1545041, "PERSON_UNAVAILABLE"),
            (10, 2018278, "OUTSIDE_MESSAGING_WINDOW"),
            (100, 2018001, "NO_SUCH_USER"),
            (100, None, "GRAPH_100"),
        ]
    ],
    SendCase(
        "outside the window the error says so",
        out(TextPart("hi")),
        responses=[graph_error(10, 2018278)],
        retryable=False,
        check=lambda error: "24-hour" in error.message,
    ),
    SendCase(
        "a proxy's HTML error page is classified by its HTTP status",
        out(TextPart("hi")),
        responses=[
            CannedResponse(
                502,
                text="<html>Bad Gateway</html>",
                media_type="text/html",
                headers={"Retry-After": "30"},
            )
        ],
        retryable=True,
        check=lambda error: error.retry_after == 30,
    ),
]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    provider = fake()
    await provider.start()
    yield provider
    await provider.stop()


async def started(provider: FakeGraph, **overrides: object) -> MessengerAdapter:
    messenger = adapter(host(), provider.base_url, **overrides)
    await messenger.start()
    return messenger


@parametrize_cases(SENDS)
async def test_send(case: SendCase, graph: FakeGraph) -> None:
    messenger = await started(graph)
    try:
        await check_send_case(messenger, case, graph)
    finally:
        await messenger.stop()


async def test_the_mid_returned_is_the_one_graph_gave(graph: FakeGraph) -> None:
    messenger = await started(graph)
    try:
        result = await messenger.send(out(TextPart("Hi")))
    finally:
        await messenger.stop()
    assert [sent["message_id"] for sent in graph.sent] == [result.provider_message_id]


async def test_agent_window_sends_use_the_human_agent_tag(graph: FakeGraph) -> None:
    messenger = await started(graph, human_agent_tag=True)
    try:
        case = SendCase(
            "agent window",
            out(TextPart("Sorry for the wait"), agent_window=True),
            requests=[
                ExpectedRequest(
                    "POST", SEND, {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
                )
            ],
        )
        await check_send_case(messenger, case, graph)
    finally:
        await messenger.stop()


async def test_a_refused_token_is_a_logged_config_problem_without_the_token(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    messenger = await started(graph, page_access_token="EAAG-revoked-token-secret")
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


async def test_a_graph_that_does_not_answer_in_time_is_retryable(graph: FakeGraph) -> None:
    messenger = await started(graph)
    messenger.send_timeout = 0.2
    graph.delay = 1.0
    try:
        case = SendCase("slow", out(TextPart("hi")), retryable=True, error_code="TIMEOUT")
        await check_send_case(messenger, case)
    finally:
        await messenger.stop()


async def test_an_unreachable_graph_is_a_retryable_network_error() -> None:
    messenger = adapter(host(), "http://127.0.0.1:9")
    await messenger.start()
    try:
        case = SendCase(
            "unreachable",
            out(TextPart("hi")),
            retryable=True,
            check=lambda error: TOKEN not in str(error),
        )
        await check_send_case(messenger, case)
    finally:
        await messenger.stop()


async def test_sends_before_start_are_refused_as_retryable() -> None:
    await check_send_case(
        adapter(host(), "http://127.0.0.1:9"),
        SendCase("not started", out(TextPart("hi")), retryable=True),
    )


async def test_the_appsecret_proof_goes_with_every_call(graph: FakeGraph) -> None:
    """With a wrong app secret Graph refuses the proof: the send must fail, not pass."""
    messenger = await started(graph, app_secret="not-the-app-secret")
    try:
        case = SendCase("bad proof", out(TextPart("hi")), retryable=False, error_code="GRAPH_100")
        await check_send_case(messenger, case)
    finally:
        await messenger.stop()
    assert graph.sent == []
