"""Twilio's status callbacks, turned into delivery updates.

The adapter reports SENT as soon as Twilio accepts a message (the create answer), and Twilio
sends no callback for that first status anyway. So the in-between statuses `queued`,
`accepted`, `scheduled` and `sending` change nothing and raise no event; `sent` confirms
SENT (the gateway only moves statuses forward, so a late one is harmless); `delivered` and
`read` move on; `undelivered`, `failed` and `canceled` are FAILED with Twilio's error code,
and error 21610 also tells the gateway that the recipient opted out. Statuses Twilio may add
later (and `partially_delivered`, whose meaning for a whole message is unclear) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.twilio.errors import OPTED_OUT, describe, error_code
from channels import DeliveryStatus, StatusUpdate

STATUSES: Mapping[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


def status_update(fields: Mapping[str, str]) -> StatusUpdate | None:
    """The update a verified callback carrying `MessageSid` and `MessageStatus` stands for."""
    status = STATUSES.get(fields["MessageStatus"].strip().lower())
    if status is None:
        return None
    sid = fields["MessageSid"].strip()
    if status is not DeliveryStatus.FAILED:
        return StatusUpdate(status=status, provider_message_id=sid)
    raw = fields.get("ErrorCode", "").strip()
    code = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 and int(raw) else None
    reported = fields.get("ErrorMessage", "").strip() or None
    if code is None:
        return StatusUpdate(
            status=status,
            provider_message_id=sid,
            error_code=f"TWILIO_{fields['MessageStatus'].strip().upper()}",
            error_message=reported or f"Twilio reports the message {fields['MessageStatus']}",
        )
    return StatusUpdate(
        status=status,
        provider_message_id=sid,
        error_code=error_code(code),
        error_message=describe(code, reported),
        opted_out=code == OPTED_OUT,
    )
