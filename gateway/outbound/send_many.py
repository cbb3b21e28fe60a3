"""sendMessage requests of one group commit, stored together with a few statements.

Each request is checked by the same rules as `send_message` (its conversation, the channel,
opt-outs, the messaging window, an `Idempotency-Key` seen before), reading what it needs; then
the messages of every request are appended with `append_messages`, and their deliveries,
idempotency keys and events are inserted with one statement each (a send to a channel whose
sends are recorded as they are stored is inserted SENT, with its part). A request the rules
refuse fails the group, and the writer then stores each request alone, so only that one is
refused; so does a key another request (or node) stored first, which the request alone then
replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from channels import DeliveryStatus
from gateway.domain.append import MAX_MERGE_HOPS, NewMessage, append_messages
from gateway.domain.directory import Directory, sent_when_stored
from gateway.domain.errors import conversation_not_found
from gateway.domain.messages import announcement
from gateway.domain.participants import OWNER_COLUMN
from gateway.domain.records import message_wire
from gateway.events import outbox
from gateway.events.feed import QueuedSend
from gateway.events.wakeups import tell_sends_queued
from gateway.outbound.rules import Route, SendRequest, choose_route, replay
from gateway.outbound.sent import Accepted, store_accepted_parts
from gateway.store.bulk import BulkInsert, SelectIn
from gateway.store.models import IdempotencyRow
from gateway.store.tables import CONVERSATIONS, DELIVERIES, IDEMPOTENCY_KEYS, IDENTITIES
from gateway.store.writer import BatchHandler

PENDING = DeliveryStatus.PENDING.value
SENT = DeliveryStatus.SENT.value


@dataclass(frozen=True)
class SendItem:
    """One sendMessage request, as the API accepted it."""

    request: SendRequest
    sender: tuple[str, str]
    now: datetime
    directory: Directory
    token_name: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery as it is first stored, for the message's public form."""

    channel_id: str
    updated_at: datetime
    status: str = PENDING
    provider_message_ids: list[str] | None = None
    error_code: str | None = None
    error_message: str | None = None


_INSERT_DELIVERIES = BulkInsert(
    DELIVERIES,
    [
        "message_id",
        "conversation_id",
        "channel_id",
        "recipient",
        "status",
        "parts_total",
        "parts_sent",
        "attempts",
        "next_attempt_at",
        "agent_window",
        "updated_at",
    ],
)
_INSERT_SENT_DELIVERIES = BulkInsert(
    DELIVERIES, [*_INSERT_DELIVERIES.columns, "provider_message_ids", "accepted_at"]
)
_INSERT_KEYS = BulkInsert(IDEMPOTENCY_KEYS, ["token_name", "key", "message_id", "created_at"])


@dataclass
class _New:
    item: SendItem
    message: NewMessage
    route: Route | None


def store_sends(session: Session, items: list[SendItem]) -> list[dict[str, Any]]:
    """Store every request's message (and queue it); one `{"message": …}` answer each."""
    answers: list[dict[str, Any] | None] = []
    fresh: list[_New] = []
    conversations = _conversations(session, [item.request.conversation_id for item in items])
    identities = _participants_identities(session, list(conversations.values()))
    keys_seen = _keys_seen(session, items)
    for item in items:
        earlier = _earlier(session, item) if _key_of(item) in keys_seen else None
        answers.append(earlier)
        if earlier is None:
            fresh.append(_checked(session, item, conversations, identities))
    append_messages(session, [new.message for new in fresh])
    deliveries: list[dict[str, Any]] = []
    sent_rows: list[dict[str, Any]] = []
    accepted: list[Accepted] = []
    keys: list[dict[str, Any]] = []
    events: list[outbox.NewEvent] = []
    made = iter(fresh)
    for index, answer in enumerate(answers):
        if answer is not None:
            continue
        new = next(made)
        message, item = new.message, new.item
        pending = None
        if new.route is not None:
            channel_id = new.route.identity.channel_id
            pending = PendingDelivery(channel_id, item.now)
            if sent_when_stored(item.directory, channel_id):
                # recorded SENT as it is stored: its recipient has it from the commit on
                sent_rows.append(_sent_delivery_row(message, new.route, item.now))
                accepted.append(
                    Accepted(message.id, channel_id, message.conversation_id, message.id, item.now)
                )
            else:
                deliveries.append(_delivery_row(message, new.route, item.now))
        if item.token_name is not None and item.idempotency_key is not None:
            keys.append(
                {
                    "token_name": item.token_name,
                    "key": item.idempotency_key,
                    "message_id": message.id,
                    "created_at": item.now,
                }
            )
        wire = message_wire(message, pending, item.directory)
        events.append(announcement(message, wire))
        answers[index] = {"message": wire}
    connection = session.connection()
    _INSERT_DELIVERIES.execute(connection, deliveries)
    if deliveries:
        tell_sends_queued(session)
    _INSERT_SENT_DELIVERIES.execute(connection, sent_rows)
    _INSERT_KEYS.execute(connection, keys)
    # SENT after the messages' events, as the dispatcher's record would come (SPEC: a send is
    # answered PENDING)
    events += store_accepted_parts(session, accepted)
    outbox.emit_many(session, events)
    return [answer for answer in answers if answer is not None]


STORE_SENDS: BatchHandler[SendItem, dict[str, Any]] = BatchHandler("api-sends", store_sends)


def queued_by(answer: dict[str, Any]) -> QueuedSend | None:
    """The send `store_sends` answered with, if it waits to be sent (a request repeated with
    its `Idempotency-Key` is answered with a send that may be gone already)."""
    message = answer["message"]
    delivery = message.get("delivery")
    if delivery is None or delivery["status"] != PENDING:
        return None
    return QueuedSend(message["id"], delivery["channelId"])


def _earlier(session: Session, item: SendItem) -> dict[str, Any] | None:
    """The answer given to the first request with this `Idempotency-Key`, if still fresh."""
    if item.token_name is None or item.idempotency_key is None:
        return None
    earlier = replay(session, item.token_name, item.idempotency_key, item.now)
    if earlier is None:
        return None
    message, delivery = earlier
    return {"message": message_wire(message, delivery, item.directory)}


Owner = tuple[str, str]


def _key_of(item: SendItem) -> tuple[str, str] | None:
    if item.token_name is None or item.idempotency_key is None:
        return None
    return item.token_name, item.idempotency_key


def _keys_seen(session: Session, items: list[SendItem]) -> set[tuple[str, str]]:
    """The requests' `Idempotency-Key`s stored before (fresh or not), with one query."""
    keys = {key for key in map(_key_of, items) if key is not None}
    if not keys:
        return set()
    rows = session.exec(
        select(col(IdempotencyRow.token_name), col(IdempotencyRow.key)).where(
            col(IdempotencyRow.token_name).in_({name for name, _ in keys}),
            col(IdempotencyRow.key).in_({key for _, key in keys}),
        )
    )
    return {(name, key) for name, key in rows} & keys


@dataclass(frozen=True, slots=True)
class _Conversation:
    """The columns of a conversation that the rules read (`ConversationFacts`)."""

    id: str
    participant_kind: str
    participant_id: str
    merged_into: str | None
    last_inbound_at: datetime | None
    last_inbound_channel_id: str | None


@dataclass(frozen=True, slots=True)
class _Identity:
    """The columns of an identity that the rules read (`IdentityFacts`), and its owner."""

    id: int
    channel_id: str
    address: str
    opted_out: bool
    contact_id: str | None
    visitor_id: str | None


# Read as columns: ORM rows cost a quarter of a group of sends to load, and are only read.
_CONVERSATIONS = SelectIn(CONVERSATIONS, list(_Conversation.__dataclass_fields__), "id")
#: a participant's identities, by the column that names each kind of owner
_IDENTITIES = {
    kind: SelectIn(IDENTITIES, list(_Identity.__dataclass_fields__), column)
    for kind, column in OWNER_COLUMN.items()
}


def _conversations(session: Session, ids: list[str]) -> dict[str, _Conversation | None]:
    """Each of these conversations, following merges as `resolve_conversation` does, with a
    query per hop rather than per conversation; None for one that does not exist."""
    connection = session.connection()
    loaded: dict[str, _Conversation] = {}
    wanted = set(ids)
    for _ in range(MAX_MERGE_HOPS + 1):
        if not wanted:
            break
        rows = _CONVERSATIONS.execute(connection, sorted(wanted))
        loaded.update((row[0], _Conversation(*row)) for row in rows)
        wanted = {
            row.merged_into
            for row in loaded.values()
            if row.merged_into is not None and row.merged_into not in loaded
        }
    found: dict[str, _Conversation | None] = {}
    for conversation_id in ids:
        conversation = loaded.get(conversation_id)
        for _ in range(MAX_MERGE_HOPS):
            if conversation is None or conversation.merged_into is None:
                break
            conversation = loaded.get(conversation.merged_into)
        found[conversation_id] = conversation
    return found


def _participants_identities(
    session: Session, conversations: list[_Conversation | None]
) -> dict[Owner, list[_Identity]]:
    """The identities of these conversations' participants, oldest first, by participant
    (one read for each kind of participant, as `identities_of_many` does)."""
    live = [c for c in conversations if c is not None]
    found: dict[Owner, list[_Identity]] = {(c.participant_kind, c.participant_id): [] for c in live}
    connection = session.connection()
    for kind, read in _IDENTITIES.items():
        owners = sorted({c.participant_id for c in live if c.participant_kind == kind})
        identities = sorted(
            (_Identity(*row) for row in read.execute(connection, owners)),
            key=lambda identity: identity.id,
        )
        for identity in identities:
            found[(kind, getattr(identity, OWNER_COLUMN[kind]))].append(identity)
    return found


def _checked(
    session: Session,
    item: SendItem,
    conversations: dict[str, _Conversation | None],
    identities: dict[Owner, list[_Identity]],
) -> _New:
    """The message to append for a request the rules accept; raises `Refused` otherwise."""
    request = item.request
    conversation = conversations.get(request.conversation_id)
    if conversation is None:
        raise conversation_not_found(request.conversation_id)
    known = identities.get((conversation.participant_kind, conversation.participant_id), [])
    route = choose_route(
        session, item.directory, conversation, request, item.sender, item.now, known
    )
    message = NewMessage(
        conversation_id=conversation.id,
        content=request.content.with_preview().wire(),
        sender_kind=item.sender[0],
        sender_id=item.sender[1],
        direction=request.direction.value,
        visibility=request.visibility.value,
        created_at=item.now,
        target_channel_id=route.identity.channel_id if route else None,
        badges=list(request.badges),
    )
    return _New(item, message, route)


def _sent_delivery_row(message: NewMessage, route: Route, stamp: datetime) -> dict[str, Any]:
    """A delivery stored already SENT: its one part accepted as it is stored."""
    return {
        **_delivery_row(message, route, stamp),
        "status": SENT,
        "parts_total": 1,
        "parts_sent": 1,
        "next_attempt_at": None,
        "provider_message_ids": [message.id],
        "accepted_at": stamp,
    }


def _delivery_row(message: NewMessage, route: Route, stamp: datetime) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "channel_id": route.identity.channel_id,
        "recipient": route.identity.address,
        "status": PENDING,
        "parts_total": 0,
        "parts_sent": 0,
        "attempts": 0,
        "next_attempt_at": stamp,
        "agent_window": route.agent_window,
        "updated_at": stamp,
    }
