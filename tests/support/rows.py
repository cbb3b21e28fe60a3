"""Rows a test stores directly, for the states that are hard to reach through the API."""

from __future__ import annotations

from datetime import datetime

from gateway.store.models import MessageRow


def business_reply(
    message_id: str, created_at: datetime, sequence: int = 1, conversation_id: str = "c1"
) -> MessageRow:
    """A text the business sent (through the API) to the customer's SMS channel, "sms"."""
    return MessageRow(
        id=message_id,
        conversation_id=conversation_id,
        sequence=sequence,
        content={"basic": {"items": [{"text": "Your order has shipped"}]}},
        sender_kind="appId",
        sender_id="crm",
        direction="BUSINESS_TO_PARTICIPANT",
        visibility="BUSINESS_AND_PARTICIPANT",
        created_at=created_at,
        target_channel_id="sms",
    )
