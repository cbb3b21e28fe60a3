"""Delivery statuses from providers: per part, then for the whole message, only forward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from channels import DeliveryStatus
from gateway.clock import aware, now
from gateway.domain.directory import Directory
from gateway.domain.messages import system_note
from gateway.domain.participants import resolve_conversation
from gateway.domain.records import delivery_wire
from gateway.events import outbox
from gateway.store.models import (
    UNSETTLED_DELIVERY,
    DeliveryPartRow,
    DeliveryRow,
    EarlyStatusRow,
    MessageRow,
)


def announce_delivery(session: Session, delivery: DeliveryRow) -> None:
    outbox.emit(
        session,
        "message_delivery_updated",
        delivery.message_id,
        {
            "conversationId": delivery.conversation_id,
            "messageId": delivery.message_id,
            "delivery": delivery_wire(delivery),
        },
        conversation_id=delivery.conversation_id,
    )


def fail_delivery(
    session: Session,
    delivery: DeliveryRow,
    code: str,
    reason: str,
    directory: Directory,
) -> bool:
    """Mark a delivery FAILED, announce it, and tell the agents why in a system note."""
    if not DeliveryStatus(delivery.status).advances_to(DeliveryStatus.FAILED):
        return False
    delivery.status = DeliveryStatus.FAILED.value
    delivery.error_code, delivery.error_message = code[:64], reason[:2000]
    delivery.next_attempt_at = None
    delivery.claimed_until = None
    delivery.updated_at = now()
    announce_delivery(session, delivery)
    conversation = resolve_conversation(session, delivery.conversation_id)
    if conversation is not None:
        system_note(
            session,
            conversation,
            f"Message could not be delivered on {delivery.channel_id}: {reason}",
            directory,
        )
    return True


def advance(session: Session, delivery: DeliveryRow, status: DeliveryStatus) -> bool:
    """Move a delivery forward to a non-failed status; announce it when it moved."""
    if status is DeliveryStatus.FAILED:
        raise ValueError("use fail_delivery for failures")
    if not DeliveryStatus(delivery.status).advances_to(status):
        return False
    delivery.status = status.value
    delivery.updated_at = now()
    announce_delivery(session, delivery)
    return True


class _HasStatus(Protocol):
    @property
    def status(self) -> str: ...


class _HasParts(Protocol):
    @property
    def parts_total(self) -> int: ...
    @property
    def parts_sent(self) -> int: ...


def aggregate(parts: Sequence[_HasStatus], delivery: _HasParts) -> DeliveryStatus | None:
    """The status every part has reached, once all parts went out (a long SMS is several)."""
    if not parts or delivery.parts_sent < delivery.parts_total:
        return None
    statuses = [DeliveryStatus(p.status) for p in parts]
    if any(s is DeliveryStatus.FAILED for s in statuses):
        return DeliveryStatus.FAILED
    return min(statuses, key=lambda s: s.rank)


def apply_part_status(
    session: Session,
    channel_id: str,
    provider_message_id: str,
    status: DeliveryStatus,
    error_code: str | None,
    error_message: str | None,
    directory: Directory,
) -> DeliveryRow | None:
    """Apply a provider's status for one part; returns the delivery when it was found."""
    part = session.exec(
        select(DeliveryPartRow).where(
            DeliveryPartRow.channel_id == channel_id,
            DeliveryPartRow.provider_message_id == provider_message_id,
        )
    ).first()
    if part is None:
        return None
    if DeliveryStatus(part.status).advances_to(status):
        part.status = status.value
        if status is DeliveryStatus.FAILED:
            part.error_code, part.error_message = error_code, error_message
    delivery = session.get(DeliveryRow, part.message_id)
    if delivery is None:
        return None
    parts = list(
        session.exec(select(DeliveryPartRow).where(DeliveryPartRow.message_id == part.message_id))
    )
    overall = aggregate(parts, delivery)
    if overall is DeliveryStatus.FAILED:
        failed = next(p for p in parts if p.status == DeliveryStatus.FAILED.value)
        fail_delivery(
            session,
            delivery,
            failed.error_code or "PROVIDER_FAILED",
            failed.error_message or "the provider could not deliver the message",
            directory,
        )
    elif overall is not None:
        advance(session, delivery, overall)
    return delivery


@dataclass(frozen=True)
class Watermark:
    """A watermark of a person on a channel: what was sent to them up to `at` has `status`."""

    recipient: str
    at: datetime
    status: DeliveryStatus


def movable_by_any_watermark(status: DeliveryStatus) -> SelectOfScalar[DeliveryRow]:
    """The deliveries to any of `recipients` on `channel_id` accepted at or before
    `watermark` (bound at each call) that a watermark of `status` can move, read from
    `ix_deliveries_unsettled` person by person: a person's settled deliveries are most of
    their history, and the index by recipient alone would read each of them every time."""
    movable = [
        s.value for s in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED) if s.advances_to(status)
    ]
    return select(DeliveryRow).where(
        DeliveryRow.channel_id == bindparam("channel_id"),
        col(DeliveryRow.recipient).in_(bindparam("recipients", expanding=True)),
        UNSETTLED_DELIVERY,
        col(DeliveryRow.status).in_(movable),
        # in UTC, as every time is stored: SQLite compares the stored text
        col(DeliveryRow.accepted_at) <= bindparam("watermark"),
    )


# Built once for each status a watermark carries, its values bound at each call (built for
# each watermark, the statement took longer than the query; a provider may send one for
# every message delivered and one for every message read). Only what the status can move:
# a person who never reads keeps every delivery DELIVERED, and each delivery watermark would
# read them all.
_MOVABLE_BY_ANY = {s: movable_by_any_watermark(s) for s in DeliveryStatus}


def apply_watermarks(session: Session, channel_id: str, marks: Sequence[Watermark]) -> list[int]:
    """Move, for each of the marks in order, every delivery to its recipient accepted at or
    before it, with one query for each status among them; how many deliveries each moved."""
    movable: dict[tuple[DeliveryStatus, str], list[DeliveryRow]] = {}
    for status in dict.fromkeys(mark.status for mark in marks):
        of_status = [mark for mark in marks if mark.status is status]
        values = {
            "channel_id": channel_id,
            "recipients": sorted({mark.recipient for mark in of_status}),
            "watermark": max(aware(mark.at) for mark in of_status),
        }
        rows = session.exec(_MOVABLE_BY_ANY[status], params=values)
        for delivery in rows:
            movable.setdefault((status, delivery.recipient), []).append(delivery)
    moved = []
    for mark in marks:
        up_to = aware(mark.at)
        moved.append(
            sum(
                advance(session, delivery, mark.status)
                for delivery in movable.get((mark.status, mark.recipient), [])
                if delivery.accepted_at is not None and aware(delivery.accepted_at) <= up_to
            )
        )
    return moved


def apply_watermark(
    session: Session,
    channel_id: str,
    recipient: str,
    watermark: datetime,
    status: DeliveryStatus,
) -> int:
    """Move every delivery to `recipient` accepted at or before the watermark; returns how many."""
    return apply_watermarks(session, channel_id, [Watermark(recipient, watermark, status)])[0]


#: deliveries read by key in one statement, well inside either database's limit of values
KEYS_PER_READ = 500


def sent_up_to(conversation_id: str, channel_id: str, sequence: int) -> SelectOfScalar[str]:
    """The ids of a conversation's messages up to `sequence` sent on the channel, read from
    `uq_message_sequence`."""
    return select(MessageRow.id).where(
        MessageRow.conversation_id == conversation_id,
        col(MessageRow.sequence) <= sequence,
        MessageRow.target_channel_id == channel_id,
    )


def read_up_to(session: Session, conversation_id: str, channel_id: str, sequence: int) -> int:
    """Mark the business messages of a conversation up to `sequence` as READ (web chat).

    The conversation's messages come first, then their deliveries by key. Deliveries have no
    index by conversation, and the one by channel would read every delivery the channel
    ever made, at each receipt, inside the group commit that holds up every write."""
    sent = list(session.exec(sent_up_to(conversation_id, channel_id, sequence)))
    unread = [DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value]
    moved = 0
    for start in range(0, len(sent), KEYS_PER_READ):
        rows = session.exec(
            select(DeliveryRow).where(
                col(DeliveryRow.message_id).in_(sent[start : start + KEYS_PER_READ]),
                DeliveryRow.channel_id == channel_id,
                col(DeliveryRow.status).in_(unread),
            )
        )
        moved += sum(advance(session, d, DeliveryStatus.READ) for d in rows)
    return moved


def remember_early_status(
    session: Session,
    channel_id: str,
    provider_message_id: str,
    status: DeliveryStatus,
    error_code: str | None,
    error_message: str | None,
    opted_out: bool,
) -> None:
    """Keep a status for a part not recorded yet; it is applied when the part is."""
    session.add(
        EarlyStatusRow(
            channel_id=channel_id,
            provider_message_id=provider_message_id,
            status=status.value,
            error_code=error_code,
            error_message=error_message,
            opted_out=opted_out,
            received_at=now(),
        )
    )


def apply_early_statuses(
    session: Session, channel_id: str, provider_message_id: str, directory: Directory
) -> list[EarlyStatusRow]:
    """Apply (and forget) the statuses that came in before this part was recorded."""
    early = list(
        session.exec(
            select(EarlyStatusRow)
            .where(
                EarlyStatusRow.channel_id == channel_id,
                EarlyStatusRow.provider_message_id == provider_message_id,
            )
            .order_by(col(EarlyStatusRow.id))
        )
    )
    for row in early:
        apply_part_status(
            session,
            channel_id,
            provider_message_id,
            DeliveryStatus(row.status),
            row.error_code,
            row.error_message,
            directory,
        )
        session.delete(row)
    return early
