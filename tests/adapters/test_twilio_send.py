"""Sending through the real `twilio` client against the loopback FakeTwilio: case tables per
configuration, then the cases a table cannot hold (timeouts, an unreachable API, the
environment)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from adapters.twilio import TwilioAdapter
from adapters.twilio.fake import FakeTwilio
from channels import (
    CardPart,
    Choice,
    DeliveryStatus,
    Media,
    MediaPart,
    QuickRepliesPart,
    SendError,
    SendResult,
    TextPart,
    basic_auth,
)
from channels.testing import (
    ExpectedRequest,
    SendCase,
    check_send_case,
    parametrize_cases,
)
from tests.adapters.twilio_support import (
    CUSTOMER,
    MESSAGES,
    NUMBER,
    PUBLIC,
    SERVICE,
    SID,
    TOKEN,
    adapter,
    fake,
    host,
    out,
    twilio_error,
)

CALLBACK = f"{PUBLIC}/channels/sms/status"
A_JPG = "https://shop.example.com/a.jpg"
B_PDF = "https://shop.example.com/b.pdf"


def create(**fields: object) -> ExpectedRequest:
    """The Messages create request, with the fields every one of ours carries."""
    return ExpectedRequest("POST", MESSAGES, {"To": CUSTOMER, "StatusCallback": CALLBACK, **fields})


def a_message_sid(result: SendResult) -> bool:
    sid = result.provider_message_id
    return sid.startswith("SM") and len(sid) == 34 and result.status is DeliveryStatus.SENT


SENDS = [
    SendCase(
        "a text goes from the number with a status callback",
        out(TextPart("Your order shipped")),
        requests=[create(From=NUMBER, Body="Your order shipped")],
        check=a_message_sid,
    ),
    SendCase(
        "a text with media goes out as one MMS",
        out(TextPart("Your receipt", media=(Media(A_JPG, "image"), Media(B_PDF, "file")))),
        requests=[create(Body="Your receipt", MediaUrl=[A_JPG, B_PDF])],
    ),
    SendCase(
        "a media part goes out as media only",
        out(MediaPart(Media(A_JPG, "image"))),
        requests=[ExpectedRequest("POST", MESSAGES, {"MediaUrl": [A_JPG]}, absent=["Body"])],
    ),
    SendCase(
        "media beyond ten travel as links rather than vanish",
        out(
            TextPart(
                "Album",
                media=tuple(Media(f"https://shop.example.com/{n}.jpg", "image") for n in range(12)),
            )
        ),
        requests=[
            create(
                MediaUrl=[f"https://shop.example.com/{n}.jpg" for n in range(10)],
                Body="Album\nhttps://shop.example.com/10.jpg\nhttps://shop.example.com/11.jpg",
            )
        ],
    ),
    SendCase(
        "an invalid number fails for good with Twilio's code and text",
        out(TextPart("Hi")),
        responses=[twilio_error(21211, message="Invalid 'To' Phone Number: +1555000222X")],
        retryable=False,
        error_code="TWILIO_21211",
        check=lambda error: error.message == "Invalid 'To' Phone Number: +1555000222X",
    ),
    SendCase(
        "a number the fake itself finds invalid fails for good",
        out(TextPart("Hi"), to="not-a-number"),
        retryable=False,
        error_code="TWILIO_21211",
    ),
    SendCase(
        "an opted-out recipient fails for good and says so",
        out(TextPart("Hi")),
        responses=[twilio_error(21610)],
        retryable=False,
        error_code="TWILIO_21610",
        check=lambda error: error.opted_out is True,
    ),
    SendCase(
        "a rate limit is retried after the asked delay",
        out(TextPart("Hi")),
        responses=[twilio_error(20429, 429, "Too Many Requests", retry_after="3")],
        retryable=True,
        error_code="TWILIO_20429",
        check=lambda error: error.retry_after == 3,
    ),
    SendCase(
        "an unavailable Twilio is retried, by the gateway only",
        out(TextPart("Hi")),
        responses=[twilio_error(20503, 503, "Service Unavailable")],
        requests=[create(Body="Hi")],  # one request: the client itself never retries
        retryable=True,
    ),
    SendCase(
        "a card is refused without a request",
        out(CardPart(title="Pick a size")),
        requests=[],
        retryable=False,
    ),
    SendCase(
        "quick replies are refused without a request",
        out(QuickRepliesPart(text="Size?", choices=(Choice("S", "size-s"),))),
        requests=[],
        retryable=False,
    ),
]

SENDS_WITHOUT_MMS = [
    SendCase(
        "media become links in the text",
        out(TextPart("Look", media=(Media(A_JPG, "image"),))),
        requests=[create(Body=f"Look\n{A_JPG}", From=NUMBER)],
    ),
    SendCase(
        "a media part becomes its link",
        out(MediaPart(Media(A_JPG, "image"))),
        requests=[ExpectedRequest("POST", MESSAGES, {"Body": A_JPG}, absent=["MediaUrl"])],
    ),
]

SENDS_BY_SERVICE = [
    SendCase(
        "the messaging service is used instead of a number",
        out(TextPart("Hi")),
        requests=[
            ExpectedRequest("POST", MESSAGES, {"MessagingServiceSid": SERVICE}, absent=["From"])
        ],
        check=a_message_sid,
    ),
]


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    provider = fake()
    await provider.start()
    yield provider
    await provider.stop()


async def started(provider: FakeTwilio, **config: object) -> TwilioAdapter:
    sms = adapter(host(), provider.base_url, **config)
    await sms.start()
    return sms


async def run(case: SendCase, provider: FakeTwilio, **config: object) -> None:
    sms = await started(provider, **config)
    try:
        await check_send_case(sms, case, provider)
    finally:
        await sms.stop()


@parametrize_cases(SENDS)
async def test_send(case: SendCase, twilio: FakeTwilio) -> None:
    await run(case, twilio)


@parametrize_cases(SENDS_WITHOUT_MMS)
async def test_send_without_mms(case: SendCase, twilio: FakeTwilio) -> None:
    await run(case, twilio, mms=False)


@parametrize_cases(SENDS_BY_SERVICE)
async def test_send_by_messaging_service(case: SendCase, twilio: FakeTwilio) -> None:
    await run(case, twilio, messaging_service_sid=SERVICE)


async def test_the_sid_returned_is_the_one_twilio_gave(twilio: FakeTwilio) -> None:
    sms = await started(twilio)
    try:
        result = await sms.send(out(TextPart("Hi")))
    finally:
        await sms.stop()
    assert [m["sid"] for m in twilio.sent] == [result.provider_message_id]


def test_without_mms_the_channel_declares_no_media() -> None:
    assert adapter(host(), mms=False).capabilities.media == frozenset()


async def test_slow_twilio_times_out_as_retryable(twilio: FakeTwilio) -> None:
    twilio.delay = 5
    sms = await started(twilio)
    sms.send_timeout = 0.1
    try:
        case = SendCase("slow", out(TextPart("Hi")), retryable=True, error_code="TIMEOUT")
        await check_send_case(sms, case)
    finally:
        await sms.stop()


async def test_unreachable_twilio_is_a_retryable_network_error(twilio: FakeTwilio) -> None:
    await twilio.stop()
    sms = await started(twilio)
    try:
        case = SendCase("down", out(TextPart("Hi")), retryable=True, error_code="NETWORK_ERROR")
        await check_send_case(sms, case)
    finally:
        await sms.stop()


async def test_wrong_auth_token_is_a_permanent_configuration_problem(twilio: FakeTwilio) -> None:
    sms = await started(twilio, auth_token="revoked")
    try:
        with pytest.raises(SendError) as raised:
            await sms.send(out(TextPart("Hi")))
    finally:
        await sms.stop()
    assert raised.value.retryable is False
    assert raised.value.config_problem is True
    assert raised.value.code == "TWILIO_20003"


async def test_region_and_edge_variables_do_not_move_the_api_host(
    twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    await run(SendCase("edge set", out(TextPart("Hi")), requests=[create(Body="Hi")]), twilio)


async def test_the_twilio_library_logs_its_requests_at_info_without_the_credentials(
    twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who turns the library's logger to INFO sees each request and answer, as
    the library logs them, and never the account's credentials."""
    caplog.set_level(logging.INFO, logger="twilio.async_http_client")
    sms = await started(twilio)
    try:
        await sms.send(out(TextPart("Hi")))
    finally:
        await sms.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "twilio.async_http_client"]
    assert f"POST Request: {twilio.base_url}{MESSAGES}" in lines
    assert "Response Status Code: 201" in lines
    basic = basic_auth(SID, TOKEN).removeprefix("Basic ")
    assert not [line for line in lines if TOKEN in line or basic in line]
