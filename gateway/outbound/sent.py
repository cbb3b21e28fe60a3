"""Parts the providers accepted, recorded for many sends at once in one group commit.

Every worker's accepted part is one item of a group commit. The usual case, a message of one
part whose delivery is still PENDING with no status waiting for it, is recorded and finished
for all items together with three statements: the parts' INSERT, the deliveries' UPDATE
(SENT, the claim let go) and the events' INSERT. Anything else (a part of a longer message, a
numbered menu to remember, a status the provider reported before its answer reached us, a
delivery already moved on) takes the row-by-row way of `part_recorder` and `finisher`.

A send to a `SentWhenStored` channel is recorded SENT in the commit that stores it:
sendMessage inserts its delivery SENT and adds its part and event with
`store_accepted_parts`; the inbox page's one reply is finished with `record_accepted`, the
statements above. `hand_over` tells the adapter once that commit landed, or hands any other
stored send to the dispatcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from channels import Choice, DeliveryStatus, SentWhenStored
from gateway.clock import now
from gateway.domain.directory import Directory, sent_when_stored
from gateway.domain.records import DeliveryState, delivery_wire
from gateway.events import outbox
from gateway.events.feed import QueuedSend
from gateway.outbound.record import finisher, part_recorder
from gateway.state import Gateway
from gateway.store.bulk import BulkInsert, BulkUpdate
from gateway.store.tables import DELIVERIES, DELIVERY_PARTS, EARLY_STATUSES
from gateway.store.writer import BatchHandler

PENDING = DeliveryStatus.PENDING.value
SENT = DeliveryStatus.SENT.value


@dataclass(frozen=True)
class SentPart:
    """A part the provider accepted; with `finish_with` (the message's numbered menu, maybe
    empty) it was the last one, and the delivery is finished in the same write."""

    message_id: str
    index: int
    total: int
    provider_message_id: str
    status: DeliveryStatus
    lease: timedelta
    handed_over_at: datetime
    directory: Directory
    finish_with: Sequence[Choice] | None = None

    @property
    def plain(self) -> bool:
        """Whether it is the one part of a message without a menu, accepted as SENT."""
        return (
            self.index == 0
            and self.total == 1
            and self.finish_with is not None
            and not self.finish_with
            and self.status is DeliveryStatus.SENT
        )


_INSERT_PARTS = BulkInsert(
    DELIVERY_PARTS, ["message_id", "channel_id", "part_index", "provider_message_id", "status"]
)
#: a delivery no one moved on since it was claimed: SENT, its one part recorded, unclaimed;
#: rows: (provider ids, accepted_at, updated_at, message id)
_FINISH = BulkUpdate(
    DELIVERIES,
    ["provider_message_ids", "accepted_at", "updated_at"],
    "message_id",
    f"status = '{PENDING}' AND parts_sent = 0",
    fixed=f"status = '{SENT}', parts_total = 1, parts_sent = 1, claimed_until = NULL, "
    "next_attempt_at = NULL, error_code = NULL, error_message = NULL",
)


def record_sent(session: Session, items: list[SentPart]) -> list[None]:
    """Record every item's part (and finish the deliveries of last parts)."""
    fast = _fast_ones(session, [item for item in items if item.plain])
    record_accepted(
        session,
        [
            Accepted(
                one.item.message_id,
                one.channel_id,
                one.conversation_id,
                one.item.provider_message_id,
                one.item.handed_over_at,
            )
            for one in fast.values()
        ],
    )
    for item in items:
        if item.message_id in fast and fast[item.message_id].item is item:
            continue
        _record_one(session, item)
    return [None for _ in items]


RECORD_SENT: BatchHandler[SentPart, None] = BatchHandler(
    "outbound-sent", record_sent, background=True
)


@dataclass(frozen=True)
class _Fast:
    item: SentPart
    channel_id: str
    conversation_id: str


# Built once (the values are bound at each call): a statement built per call leaves objects
# that only the garbage collector frees, and this runs for every group of sends.
_DELIVERIES = select(
    DELIVERIES.c.message_id,
    DELIVERIES.c.channel_id,
    DELIVERIES.c.conversation_id,
    DELIVERIES.c.status,
    DELIVERIES.c.parts_sent,
).where(DELIVERIES.c.message_id.in_(bindparam("b_ids", expanding=True)))
_TAKEN = [
    select(table.c.channel_id, table.c.provider_message_id).where(
        table.c.channel_id.in_(bindparam("b_channels", expanding=True)),
        table.c.provider_message_id.in_(bindparam("b_provider_ids", expanding=True)),
    )
    for table in (EARLY_STATUSES, DELIVERY_PARTS)
]


def _fast_ones(session: Session, plain: list[SentPart]) -> dict[str, _Fast]:
    """The plain items the statements can record, with their channel, by message id."""
    if not plain:
        return {}
    connection = session.connection()
    ids = [item.message_id for item in plain]
    deliveries = {row.message_id: row for row in connection.execute(_DELIVERIES, {"b_ids": ids})}
    # the channels too, so that both lookups are searches of the (channel, provider id)
    # indexes rather than scans of every part ever sent
    known = {
        "b_channels": list({row.channel_id for row in deliveries.values()}),
        "b_provider_ids": [item.provider_message_id for item in plain],
    }
    # a status that beat the provider's answer here, or a part recorded already: the long way
    taken = {
        (row.channel_id, row.provider_message_id)
        for query in _TAKEN
        for row in connection.execute(query, known)
    }
    fast: dict[str, _Fast] = {}
    seen: set[tuple[str, str]] = set()
    for item in plain:
        row = deliveries.get(item.message_id)
        if row is None or row.status != PENDING or row.parts_sent != 0:
            continue
        key = (row.channel_id, item.provider_message_id)
        if key in taken or key in seen or item.message_id in fast:
            continue
        seen.add(key)
        fast[item.message_id] = _Fast(item, row.channel_id, row.conversation_id)
    return fast


@dataclass(frozen=True)
class Accepted:
    """A message of one part, accepted as SENT: by its provider, or as it was stored (a
    `SentWhenStored` channel, the message's id standing for the provider's)."""

    message_id: str
    channel_id: str
    conversation_id: str
    provider_message_id: str
    accepted_at: datetime


def record_accepted(session: Session, accepted: Sequence[Accepted]) -> None:
    """Record each message's one part and finish its delivery, still PENDING with nothing
    sent and no status waiting for it (the caller checked), with three statements."""
    if not accepted:
        return
    # Events the caller added through the session (the message's own announcement) take
    # their numbers first: a subscriber sees a message before any status of it.
    session.flush()
    connection = session.connection()
    stamp = now()
    _INSERT_PARTS.execute(connection, _part_rows(accepted))
    _FINISH.execute(
        connection,
        [([one.provider_message_id], one.accepted_at, stamp, one.message_id) for one in accepted],
    )
    outbox.emit_many(session, _sent_events(accepted, stamp))


def store_accepted_parts(session: Session, accepted: Sequence[Accepted]) -> list[outbox.NewEvent]:
    """The parts of deliveries the caller inserts already SENT (updated when accepted), stored
    with one statement; answers their events, for the caller to append after the messages'."""
    if not accepted:
        return []
    _INSERT_PARTS.execute(session.connection(), _part_rows(accepted))
    return _sent_events(accepted)


def _part_rows(accepted: Sequence[Accepted]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": one.message_id,
            "channel_id": one.channel_id,
            "part_index": 0,
            "provider_message_id": one.provider_message_id,
            "status": SENT,
        }
        for one in accepted
    ]


def _sent_events(
    accepted: Sequence[Accepted], stamp: datetime | None = None
) -> list[outbox.NewEvent]:
    """Each delivery's `message_delivery_updated` (SENT), updated at `stamp` (None: when
    accepted)."""
    return [
        outbox.NewEvent(
            "message_delivery_updated",
            one.message_id,
            {
                "conversationId": one.conversation_id,
                "messageId": one.message_id,
                "delivery": delivery_wire(
                    DeliveryState(
                        one.channel_id, SENT, [one.provider_message_id], stamp or one.accepted_at
                    )
                ),
            },
            one.conversation_id,
        )
        for one in accepted
    ]


def _record_one(session: Session, item: SentPart) -> None:
    part_recorder(
        item.message_id,
        item.index,
        item.total,
        item.provider_message_id,
        item.status,
        item.lease,
        item.handed_over_at,
        item.directory,
    )(session)
    if item.finish_with is not None:
        session.flush()
        finisher(item.message_id, item.finish_with, item.directory)(session)


def hand_over(gw: Gateway, send: QueuedSend) -> None:
    """After the commit that stored a send, whoever stored it (the API, the inbox page): on a
    channel whose sends are recorded SENT as they are stored, count it sent and tell the
    adapter; else hand it to the dispatcher, which takes it at once rather than at its next
    look for due deliveries (while a long paced queue waits, that look may be seconds away)."""
    adapter = gw.adapters.get(send.channel_id)
    # (the directory says so only of a SentWhenStored adapter; the check narrows the type)
    if sent_when_stored(gw.directory, send.channel_id) and isinstance(adapter, SentWhenStored):
        gw.metrics.messages_out.labels(send.channel_id).inc()
        adapter.stored_sent([send.message_id])
    else:
        gw.feed.deliveries_due([send])
