"""Providers' statuses for many sent parts at once: `apply_part_status` with a few statements.

A storm of callbacks (several per message, in any order) is applied with one SELECT of the
parts, one of their deliveries (locked on PostgreSQL, so that two nodes applying statuses
to the parts of one message see each other's), one of their sibling parts, and one UPDATE
each for parts and deliveries. Every UPDATE only moves a status forward (its WHERE names
the statuses it may leave), so statuses never go back, whoever writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from channels import DeliveryStatus
from gateway.clock import now
from gateway.domain.delivery_status import aggregate
from gateway.domain.records import delivery_wire
from gateway.events import outbox
from gateway.store.bulk import BulkUpdate, SelectIn
from gateway.store.tables import DELIVERIES, DELIVERY_PARTS, EARLY_STATUSES


@dataclass(frozen=True)
class PartStatus:
    """A provider's (non-failed) status for one part it sent, by its id for the part."""

    provider_message_id: str
    status: DeliveryStatus


@dataclass
class _Part:
    id: int
    message_id: str
    provider_message_id: str
    status: str


@dataclass
class _Delivery:
    message_id: str
    conversation_id: str
    channel_id: str
    status: str
    error_code: str | None
    error_message: str | None
    provider_message_ids: list[str] | None
    parts_total: int
    parts_sent: int
    updated_at: datetime


def _moves_forward() -> str:
    """SQL that holds when `{p}` (a status's rank) is ahead of the row's status: statuses
    move only in that order, and READ and FAILED move no more."""
    movable = [s for s in DeliveryStatus if s.advances_to(DeliveryStatus.READ)]
    ranks = " ".join(f"WHEN '{s.value}' THEN {s.rank}" for s in movable)
    return f"CASE status {ranks} ELSE 99 END < {{p}}"


_MOVES_FORWARD = _moves_forward()
#: rows: (status, part id, the status's rank)
_ADVANCE_PART = BulkUpdate(DELIVERY_PARTS, ["status"], "id", _MOVES_FORWARD)
#: rows: (status, updated_at, message id, the status's rank)
_ADVANCE_DELIVERY = BulkUpdate(DELIVERIES, ["status", "updated_at"], "message_id", _MOVES_FORWARD)


_PARTS_SENT = SelectIn(
    DELIVERY_PARTS, ["provider_message_id", "message_id"], "provider_message_id", ["channel_id"]
)
_DELIVERIES = SelectIn(DELIVERIES, list(_Delivery.__dataclass_fields__), "message_id", lock=True)
_PARTS = SelectIn(DELIVERY_PARTS, list(_Part.__dataclass_fields__), "message_id")


def apply_part_statuses(
    session: Session, channel_id: str, updates: Sequence[PartStatus]
) -> set[str]:
    """Apply the statuses in order; returns the provider ids left for `apply_part_status`.

    A part not recorded yet keeps its status for later (`remember_early_status`). A message
    whose parts now add up to FAILED is left to the caller, since failing a delivery also
    writes a note for the agents.
    """
    connection = session.connection()
    found = _PARTS_SENT.execute(connection, [u.provider_message_id for u in updates], channel_id)
    message_of: dict[str, str] = dict(found)
    early = [u for u in updates if u.provider_message_id not in message_of]
    if early:
        _remember_early(session, channel_id, early)
    if not message_of:
        return set()
    message_ids = list(set(message_of.values()))
    # Locked in one order on PostgreSQL, so the parts read next are the latest for each.
    locked = [_Delivery(*row) for row in _DELIVERIES.execute(connection, message_ids)]
    deliveries = {delivery.message_id: delivery for delivery in locked}
    parts: dict[str, list[_Part]] = {}
    for row in _PARTS.execute(connection, message_ids):
        part = _Part(*row)
        parts.setdefault(part.message_id, []).append(part)
    return _apply(session, updates, message_of, deliveries, parts)


def _apply(
    session: Session,
    updates: Sequence[PartStatus],
    message_of: dict[str, str],
    deliveries: dict[str, _Delivery],
    parts: dict[str, list[_Part]],
) -> set[str]:
    left: set[str] = set()
    part_changes: dict[int, tuple[str, int, int]] = {}
    delivery_changes: dict[str, tuple[str, datetime, str, int]] = {}
    events: list[outbox.NewEvent] = []
    stamp = now()
    for item in updates:
        message_id = message_of.get(item.provider_message_id)
        delivery = deliveries.get(message_id or "")
        if message_id is None or delivery is None:
            continue
        siblings = parts.get(message_id, [])
        part = next(
            (p for p in siblings if p.provider_message_id == item.provider_message_id), None
        )
        if part is None:
            continue
        if DeliveryStatus(part.status).advances_to(item.status):
            part.status = item.status.value
            part_changes[part.id] = (item.status.value, part.id, item.status.rank)
        overall = aggregate(siblings, delivery)
        if overall is DeliveryStatus.FAILED:
            if delivery.status != DeliveryStatus.FAILED.value:
                left.add(item.provider_message_id)
            continue
        if overall is None or not DeliveryStatus(delivery.status).advances_to(overall):
            continue
        delivery.status, delivery.updated_at = overall.value, stamp
        delivery_changes[delivery.message_id] = (
            overall.value,
            stamp,
            delivery.message_id,
            overall.rank,
        )
        events.append(
            outbox.NewEvent(
                "message_delivery_updated",
                delivery.message_id,
                {
                    "conversationId": delivery.conversation_id,
                    "messageId": delivery.message_id,
                    "delivery": delivery_wire(delivery),
                },
                delivery.conversation_id,
            )
        )
    connection = session.connection()
    _ADVANCE_PART.execute(connection, list(part_changes.values()))
    _ADVANCE_DELIVERY.execute(connection, list(delivery_changes.values()))
    outbox.emit_many(session, events)
    return left


def _remember_early(session: Session, channel_id: str, early: list[PartStatus]) -> None:
    """`remember_early_status` for every update of a part not recorded yet."""
    stamp = now()
    session.connection().execute(
        insert(EARLY_STATUSES),
        [
            {
                "channel_id": channel_id,
                "provider_message_id": u.provider_message_id,
                "status": u.status.value,
                "error_code": None,
                "error_message": None,
                "opted_out": False,
                "received_at": stamp,
            }
            for u in early
        ],
    )
