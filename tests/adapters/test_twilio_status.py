"""Twilio status callbacks become delivery updates (a case table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from channels import DeliveryStatus, InboundEvent, StatusUpdate, WebhookResponse
from channels.testing import WebhookCase, check_webhook_case, parametrize_cases
from tests.adapters.twilio_support import (
    MSG_SID,
    SERVICE,
    STATUS,
    adapter,
    callback,
    host,
    signed,
    unsigned,
    without,
)

Check = Callable[[WebhookResponse, Sequence[InboundEvent]], None]


def failed(code: str | None, *, opted_out: bool = False, reason: str = "") -> Check:
    """A check: one FAILED update carrying Twilio's code and a readable reason."""

    def check(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
        [update] = events
        assert isinstance(update, StatusUpdate)
        assert update.status is DeliveryStatus.FAILED
        assert update.provider_message_id == MSG_SID
        if code is not None:
            assert update.error_code == f"TWILIO_{code}"
        assert update.error_code and update.error_message
        assert not update.error_message.startswith("Twilio error")
        assert update.opted_out is opted_out
        assert reason in update.error_message

    return check


CASES = [
    *[
        WebhookCase(
            f"{twilio_status} updates the delivery",
            signed(callback(twilio_status), STATUS),
            events=[StatusUpdate(status=status, provider_message_id=MSG_SID)],
        )
        for twilio_status, status in [
            ("sent", DeliveryStatus.SENT),
            ("delivered", DeliveryStatus.DELIVERED),
            ("read", DeliveryStatus.READ),
        ]
    ],
    WebhookCase(
        "undelivered 30007 fails with the code and says it was filtered",
        signed(callback("undelivered", "30007"), STATUS),
        check=failed("30007", reason="filtered"),
    ),
    *[
        WebhookCase(
            f"{twilio_status} {code} fails with Twilio's code",
            signed(callback(twilio_status, code), STATUS),
            check=failed(code),
        )
        for twilio_status, code in [
            ("failed", "30003"),
            ("failed", "30005"),
            ("undelivered", "30006"),
        ]
    ],
    WebhookCase(
        "failure 21610 marks the recipient opted out",
        signed(callback("failed", "21610"), STATUS),
        check=failed("21610", opted_out=True),
    ),
    WebhookCase(
        "canceled without a code still fails with a reason",
        signed(callback("canceled"), STATUS),
        check=failed(None),
    ),
    *[
        WebhookCase(
            f"{twilio_status} changes nothing",
            signed(callback(twilio_status), STATUS),
            body_contains="<Response />",
            event_count=0,
        )
        for twilio_status in [
            "queued",
            "accepted",
            "scheduled",
            "sending",
            "partially_delivered",
            "teleported",
        ]
    ],
    WebhookCase(
        "another token's signature is refused",
        signed(callback("delivered"), STATUS, token="not-the-token"),
        status=403,
        event_count=0,
    ),
    WebhookCase(
        "an unsigned callback is refused",
        unsigned(callback("delivered"), STATUS),
        status=403,
        event_count=0,
    ),
    WebhookCase(
        "a callback for another account is refused",
        signed(
            [(k, "AC" + "0" * 32 if k == "AccountSid" else v) for k, v in callback("delivered")],
            STATUS,
        ),
        status=403,
        event_count=0,
    ),
    *[
        WebhookCase(
            f"a callback without {field} is a bad request",
            signed(without(callback("delivered"), field), STATUS),
            status=400,
            event_count=0,
        )
        for field in ["MessageSid", "MessageStatus"]
    ],
]


@parametrize_cases(CASES)
async def test_status_callback(case: WebhookCase) -> None:
    recording = host()
    twilio = adapter(recording, messaging_service_sid=SERVICE)
    await check_webhook_case(twilio, recording, case)
