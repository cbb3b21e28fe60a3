"""Sending through the real `twilio` client against the loopback FakeTwilio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.fake import FakeTwilio
from channels import (
    CardPart,
    Choice,
    DeliveryStatus,
    Media,
    MediaPart,
    OutboundPart,
    Part,
    QuickRepliesPart,
    SendError,
    TextPart,
)
from channels.testing import RecordingHost

SID = "AC" + "c3" * 16
TOKEN = "send-test-token"
SERVICE = "MG" + "d4" * 16
TO = "+15550002222"
PUBLIC = "https://inbox.example.com"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(account_sid=SID, auth_token=TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


async def started(fake: FakeTwilio, **config: object) -> TwilioAdapter:
    settings: dict[str, object] = {
        "type": "twilio",
        "account_sid": SID,
        "auth_token": TOKEN,
        "api_base_url": fake.base_url,
    }
    settings.update(config)
    if "messaging_service_sid" not in settings:
        settings.setdefault("from_number", "+15550001111")
    adapter = TwilioAdapter(
        "sms", TwilioConfig.model_validate(settings), RecordingHost("sms", public_url=PUBLIC)
    )
    await adapter.start()
    return adapter


@pytest.fixture
async def adapter(fake: FakeTwilio) -> AsyncIterator[TwilioAdapter]:
    adapter = await started(fake)
    yield adapter
    await adapter.stop()


def out(part: Part, to: str = TO) -> OutboundPart:
    return OutboundPart(part=part, recipient=to, message_id="m1", conversation_id="c1")


async def failure(adapter: TwilioAdapter, part: Part | None = None) -> SendError:
    with pytest.raises(SendError) as raised:
        await adapter.send(out(part or TextPart("Your order shipped")))
    return raised.value


async def test_text_is_sent_from_the_number_with_status_callback(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    result = await adapter.send(out(TextPart("Your order shipped")))
    [sent] = fake.sent
    assert result.provider_message_id == sent["sid"]
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34
    assert result.status is DeliveryStatus.SENT
    assert sent["To"] == TO
    assert sent["From"] == "+15550001111"
    assert sent["Body"] == "Your order shipped"
    assert sent["MediaUrl"] == []
    assert sent["StatusCallback"] == f"{PUBLIC}/channels/sms/status"


async def test_text_with_media_goes_out_as_one_mms(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    media = (
        Media(url="https://shop.example.com/a.jpg", kind="image"),
        Media(url="https://shop.example.com/b.pdf", kind="file"),
    )
    await adapter.send(out(TextPart("Your receipt", media=media)))
    [sent] = fake.sent
    assert sent["Body"] == "Your receipt"
    assert sent["MediaUrl"] == ["https://shop.example.com/a.jpg", "https://shop.example.com/b.pdf"]


async def test_media_part_goes_out_as_media_only(fake: FakeTwilio, adapter: TwilioAdapter) -> None:
    await adapter.send(out(MediaPart(Media(url="https://shop.example.com/a.jpg", kind="image"))))
    [sent] = fake.sent
    assert "Body" not in sent
    assert sent["MediaUrl"] == ["https://shop.example.com/a.jpg"]


async def test_without_mms_media_become_links_in_the_text(fake: FakeTwilio) -> None:
    adapter = await started(fake, mms=False)
    try:
        assert adapter.capabilities.media == frozenset()
        media = (Media(url="https://shop.example.com/a.jpg", kind="image"),)
        await adapter.send(out(TextPart("Look", media=media)))
        await adapter.send(out(MediaPart(media[0])))
    finally:
        await adapter.stop()
    assert [m["Body"] for m in fake.sent] == [
        "Look\nhttps://shop.example.com/a.jpg",
        "https://shop.example.com/a.jpg",
    ]
    assert all(m["MediaUrl"] == [] for m in fake.sent)


async def test_messaging_service_is_used_instead_of_a_number(fake: FakeTwilio) -> None:
    adapter = await started(fake, messaging_service_sid=SERVICE)
    try:
        result = await adapter.send(out(TextPart("Hi")))
    finally:
        await adapter.stop()
    [sent] = fake.sent
    assert sent["MessagingServiceSid"] == SERVICE
    assert "From" not in sent
    assert result.provider_message_id == sent["sid"]


async def test_invalid_number_fails_permanently_with_twilio_code(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    fake.fail_next(code=21211, status=400, message="Invalid 'To' Phone Number: +1555000222X")
    error = await failure(adapter)
    assert error.retryable is False
    assert error.code == "TWILIO_21211"
    assert error.message == "Invalid 'To' Phone Number: +1555000222X"
    assert fake.sent == []


async def test_invalid_number_refused_by_the_fake_itself(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    with pytest.raises(SendError) as raised:
        await adapter.send(out(TextPart("Hi"), to="not-a-number"))
    assert raised.value.code == "TWILIO_21211"
    assert raised.value.retryable is False


async def test_opted_out_recipient_fails_permanently_and_says_so(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    fake.fail_next(code=21610, status=400)
    error = await failure(adapter)
    assert error.retryable is False
    assert error.opted_out is True
    assert error.code == "TWILIO_21610"


async def test_rate_limit_is_retryable_after_the_asked_delay(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    fake.fail_next(status=429, retry_after=3)
    error = await failure(adapter)
    assert error.retryable is True
    assert error.retry_after == 3
    assert error.code == "TWILIO_20429"


async def test_unavailable_twilio_is_retryable_and_then_succeeds(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    fake.fail_next(status=503, times=2)
    assert (await failure(adapter)).retryable is True
    assert (await failure(adapter)).retryable is True
    result = await adapter.send(out(TextPart("Your order shipped")))
    assert [m["sid"] for m in fake.sent] == [result.provider_message_id]
    assert len(fake.requests) == 3, "the client itself never retries"


async def test_slow_twilio_times_out_as_retryable(fake: FakeTwilio, adapter: TwilioAdapter) -> None:
    fake.delay = 5
    adapter.send_timeout = 0.1
    error = await failure(adapter)
    assert error.retryable is True
    assert error.code == "TIMEOUT"


async def test_unreachable_twilio_is_a_retryable_network_error(fake: FakeTwilio) -> None:
    base_url = fake.base_url
    await fake.stop()
    adapter = await started(fake, api_base_url=base_url)
    try:
        error = await failure(adapter)
    finally:
        await adapter.stop()
    assert error.retryable is True
    assert error.code == "NETWORK_ERROR"


async def test_wrong_auth_token_is_a_permanent_configuration_problem(fake: FakeTwilio) -> None:
    adapter = await started(fake, auth_token="revoked")
    try:
        error = await failure(adapter)
    finally:
        await adapter.stop()
    assert error.retryable is False
    assert error.config_problem is True
    assert error.code == "TWILIO_20003"


async def test_region_and_edge_variables_do_not_move_the_api_host(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    adapter = await started(fake)
    try:
        await adapter.send(out(TextPart("Hi")))
    finally:
        await adapter.stop()
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    "part",
    [
        CardPart(title="Pick a size"),
        QuickRepliesPart(text="Size?", choices=(Choice("S", "size-s"),)),
    ],
)
async def test_parts_sms_cannot_show_fail_permanently_without_a_request(
    fake: FakeTwilio, adapter: TwilioAdapter, part: Part
) -> None:
    error = await failure(adapter, part)
    assert error.retryable is False
    assert fake.requests == []


async def test_media_beyond_ten_travel_as_links_rather_than_vanish(
    fake: FakeTwilio, adapter: TwilioAdapter
) -> None:
    media = tuple(Media(url=f"https://shop.example.com/{n}.jpg", kind="image") for n in range(12))
    await adapter.send(out(TextPart("Album", media=media)))
    [sent] = fake.sent
    assert len(sent["MediaUrl"]) == 10
    assert sent["Body"].splitlines() == [
        "Album",
        "https://shop.example.com/10.jpg",
        "https://shop.example.com/11.jpg",
    ]
