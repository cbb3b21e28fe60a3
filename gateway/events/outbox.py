"""Events (SPEC section 5), appended to the outbox in the transaction of the change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, func, select

from gateway.clock import new_id, now, rfc3339
from gateway.store.bulk import BulkInsert
from gateway.store.models import EventRow
from gateway.store.tables import EVENTS
from gateway.store.writer import ANNOUNCED, UNLISTED

MESSAGE = "inbox.v2.message"
CONVERSATION = "inbox.v2.conversation"

SLUGS = (
    "message_sent_to_business",
    "message_sent_to_participant",
    "button_interacted",
    "conversations_merged",
    "message_delivery_updated",
)


def newest_seq(session: Session) -> int:
    """The number of the newest event in the outbox; 0 when it is empty."""
    return int(session.exec(select(func.coalesce(func.max(EventRow.seq), 0))).one() or 0)


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
    # not listed for the feed, which needs to know (a batched job may take this way too)
    session.info[UNLISTED] = True
    return row


class OutboxEvent(Protocol):
    """An event as stored: a row read from the outbox, or one just appended (`Appended`)."""

    @property
    def seq(self) -> int | None: ...
    @property
    def id(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def entity_fqdn(self) -> str: ...
    @property
    def entity_id(self) -> str: ...
    @property
    def conversation_id(self) -> str | None: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def body(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Appended:
    """An event `emit_many` appended, numbered, as the feed hands it out."""

    seq: int
    id: str
    slug: str
    entity_fqdn: str
    entity_id: str
    conversation_id: str | None
    event_time: datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class NewEvent:
    """An event to append with `emit_many`."""

    slug: str
    entity_id: str
    body: dict[str, Any]
    conversation_id: str | None
    entity_fqdn: str = MESSAGE


_INSERT = BulkInsert(
    EVENTS,
    ["id", "slug", "entity_fqdn", "entity_id", "conversation_id", "event_time", "body"],
    returning=["id", "seq"],
)


def emit_many(session: Session, events: Sequence[NewEvent]) -> list[Appended]:
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
    numbered = _INSERT.execute(session.connection(), rows)
    seq_of = {row.id: row.seq for row in numbered}
    stored = [Appended(seq=seq_of[row["id"]], **row) for row in rows]
    announced: list[Any] | None = session.info.get(ANNOUNCED)
    if announced is not None:
        announced.extend(stored)
    return stored


def envelope(row: OutboxEvent) -> dict[str, Any]:
    """The JSON an outgoing webhook carries for one event."""
    return {
        "id": row.id,
        "slug": row.slug,
        "entityFqdn": row.entity_fqdn,
        "entityId": row.entity_id,
        "eventTime": rfc3339(row.event_time),
        "actionEvent": {"body": row.body},
    }
