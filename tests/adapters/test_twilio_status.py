"""Twilio status callbacks become delivery updates."""

from __future__ import annotations

import pytest

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.signature import sign
from channels import DeliveryStatus, StatusUpdate, WebhookRequest
from channels.testing import RecordingHost, form_request

SID = "AC" + "b2" * 16
TOKEN = "status-test-token"
PUBLIC = "https://inbox.example.com"
PATH = "/channels/sms/status"
MSG_SID = "SM" + "7c" * 16


def callback(status: str, error_code: str | None = None) -> list[tuple[str, str]]:
    """A status callback in the shape Twilio posts it."""
    fields = [
        ("SmsSid", MSG_SID),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", "+15550002222"),
        ("MessageSid", MSG_SID),
        ("AccountSid", SID),
        ("From", "+15550001111"),
        ("ApiVersion", "2010-04-01"),
    ]
    if error_code is not None:
        fields.append(("ErrorCode", error_code))
    if status in ("delivered", "undelivered"):
        fields.append(("RawDlrDoneDate", "2611270300"))
    return fields


def signed(fields: list[tuple[str, str]], token: str = TOKEN) -> WebhookRequest:
    signature = sign(token, PUBLIC + PATH, dict(fields))
    return form_request(PATH, fields, public_url=PUBLIC, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost(channel_id="sms", public_url=PUBLIC)


@pytest.fixture
def adapter(host: RecordingHost) -> TwilioAdapter:
    config = TwilioConfig(
        type="twilio", account_sid=SID, auth_token=TOKEN, messaging_service_sid="MG" + "0" * 32
    )
    return TwilioAdapter("sms", config, host)


async def update_for(
    adapter: TwilioAdapter, host: RecordingHost, request: WebhookRequest
) -> StatusUpdate | None:
    response = await adapter.handle_status(request)
    assert response.status == 200
    assert not [e for e in host.events if not isinstance(e, StatusUpdate)]
    return host.events[-1] if host.events else None  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("twilio_status", "status"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
    ],
)
async def test_progress_statuses_update_the_delivery(
    adapter: TwilioAdapter, host: RecordingHost, twilio_status: str, status: DeliveryStatus
) -> None:
    update = await update_for(adapter, host, signed(callback(twilio_status)))
    assert update == StatusUpdate(status=status, provider_message_id=MSG_SID)


async def test_undelivered_30007_fails_with_code_and_readable_reason(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    update = await update_for(adapter, host, signed(callback("undelivered", "30007")))
    assert update is not None
    assert update.status is DeliveryStatus.FAILED
    assert update.provider_message_id == MSG_SID
    assert update.error_code == "TWILIO_30007"
    assert update.error_message is not None and "filtered" in update.error_message
    assert update.opted_out is False


@pytest.mark.parametrize(
    ("twilio_status", "code"), [("failed", "30003"), ("failed", "30005"), ("undelivered", "30006")]
)
async def test_failed_statuses_carry_twilio_code(
    adapter: TwilioAdapter, host: RecordingHost, twilio_status: str, code: str
) -> None:
    update = await update_for(adapter, host, signed(callback(twilio_status, code)))
    assert update is not None
    assert update.status is DeliveryStatus.FAILED
    assert update.error_code == f"TWILIO_{code}"
    assert update.error_message and not update.error_message.startswith("Twilio error")


async def test_failure_21610_marks_the_recipient_opted_out(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    update = await update_for(adapter, host, signed(callback("failed", "21610")))
    assert update is not None
    assert update.status is DeliveryStatus.FAILED
    assert update.opted_out is True


async def test_canceled_without_code_still_fails_with_a_reason(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    update = await update_for(adapter, host, signed(callback("canceled")))
    assert update is not None
    assert update.status is DeliveryStatus.FAILED
    assert update.error_code and update.error_message


@pytest.mark.parametrize(
    "twilio_status",
    ["queued", "accepted", "scheduled", "sending", "partially_delivered", "teleported"],
)
async def test_intermediate_and_unknown_statuses_change_nothing(
    adapter: TwilioAdapter, host: RecordingHost, twilio_status: str
) -> None:
    assert await update_for(adapter, host, signed(callback(twilio_status))) is None


async def test_unsigned_callback_is_refused(adapter: TwilioAdapter, host: RecordingHost) -> None:
    bad = signed(callback("delivered"), token="not-the-token")
    assert (await adapter.handle_status(bad)).status == 403
    unsigned = form_request(PATH, callback("delivered"), public_url=PUBLIC)
    assert (await adapter.handle_status(unsigned)).status == 403
    assert host.events == []


async def test_callback_for_another_account_is_refused(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    fields = [(k, "AC" + "0" * 32 if k == "AccountSid" else v) for k, v in callback("delivered")]
    assert (await adapter.handle_status(signed(fields))).status == 403
    assert host.events == []


@pytest.mark.parametrize("field", ["MessageSid", "MessageStatus"])
async def test_callback_without_sid_or_status_is_a_bad_request(
    adapter: TwilioAdapter, host: RecordingHost, field: str
) -> None:
    fields = [(k, v) for k, v in callback("delivered") if k != field]
    assert (await adapter.handle_status(signed(fields))).status == 400
    assert host.events == []
