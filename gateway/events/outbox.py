"""Events (SPEC section 5), appended to the outbox in the transaction of the change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from gateway.clock import new_id, now, rfc3339
from gateway.store.models import EventRow

MESSAGE = "inbox.v2.message"
CONVERSATION = "inbox.v2.conversation"

SLUGS = (
    "message_sent_to_business",
    "message_sent_to_participant",
    "button_interacted",
    "conversations_merged",
    "message_delivery_updated",
)


def emit(
    session: Session,
    slug: str,
    entity_id: str,
    body: dict[str, Any],
    *,
    conversation_id: str | None,
    entity_fqdn: str = MESSAGE,
) -> EventRow:
    row = EventRow(
        id=new_id(),
        slug=slug,
        entity_fqdn=entity_fqdn,
        entity_id=entity_id,
        conversation_id=conversation_id,
        event_time=now(),
        body=body,
    )
    session.add(row)
    return row


def envelope(row: EventRow) -> dict[str, Any]:
    """The JSON an outgoing webhook carries for one event."""
    return {
        "id": row.id,
        "slug": row.slug,
        "entityFqdn": row.entity_fqdn,
        "entityId": row.entity_id,
        "eventTime": rfc3339(row.event_time),
        "actionEvent": {"body": row.body},
    }
