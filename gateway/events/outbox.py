"""Events (SPEC section 5), appended to the outbox in the transaction of the change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from gateway.clock import new_id, now, rfc3339
from gateway.store.models import EventRow
from gateway.store.tables import EVENTS
from gateway.store.writer import ANNOUNCED

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


@dataclass(frozen=True)
class NewEvent:
    """An event to append with `emit_many`."""

    slug: str
    entity_id: str
    body: dict[str, Any]
    conversation_id: str | None
    entity_fqdn: str = MESSAGE


def emit_many(session: Session, events: Sequence[NewEvent]) -> list[EventRow]:
    """Append events with one statement; they come back numbered, for the live feed.

    Inside a group commit the rows are also listed for the feed, which then need not read
    them back from the table.
    """
    if not events:
        return []
    stamp = now()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "slug": event.slug,
            "entity_fqdn": event.entity_fqdn,
            "entity_id": event.entity_id,
            "conversation_id": event.conversation_id,
            "event_time": stamp,
            "body": event.body,
        }
        for event in events
    ]
    numbered = session.connection().execute(
        insert(EVENTS).returning(EVENTS.c.id, EVENTS.c.seq), rows
    )
    seq_of = {row.id: row.seq for row in numbered}
    stored = [EventRow(seq=seq_of[row["id"]], **row) for row in rows]
    announced: list[Any] | None = session.info.get(ANNOUNCED)
    if announced is not None:
        announced.extend(stored)
    return stored


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
