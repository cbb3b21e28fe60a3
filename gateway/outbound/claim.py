"""Finding due deliveries fairly, and claiming them with a lease so one worker sends each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlmodel import Session, col

from channels import DeliveryStatus
from gateway.clock import aware
from gateway.domain.append import MESSAGE_COLUMNS, NewMessage
from gateway.domain.directory import Directory
from gateway.domain.records import DeliveryState, message_wire
from gateway.events.wakeups import tell_sends_queued
from gateway.store.models import DeliveryRow
from gateway.store.tables import CONVERSATIONS, DELIVERIES, MESSAGES

PENDING = DeliveryStatus.PENDING.value
#: replies count as answers to a participant's message for this long on channels without a window
RESPONSE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Candidate:
    """A delivery offered to a claim: one a look found due at the head of its recipient's
    queue, or one this node handed over (a send it just queued, a retry fallen due), which
    the claim checks is."""

    message_id: str
    channel_id: str
    #: how many times this node handed it to the dispatcher (0: a look found it); not part of
    #: what the candidate is, so equal to the same delivery found by a look
    handed: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Due:
    """What is due now, most deserving first, and when the next one falls due."""

    candidates: list[Candidate]
    next_due: datetime | None


@dataclass(frozen=True)
class Job:
    """A claimed delivery with everything a worker needs to send it."""

    message_id: str
    conversation_id: str
    channel_id: str
    recipient: str
    content: dict[str, Any]
    parts_sent: int
    attempts: int
    agent_window: bool
    is_response: bool
    wire_message: dict[str, Any]


# The statements are built once, with their values bound at each call: building a statement
# with subqueries makes a few hundred objects that only the garbage collector frees, and the
# dispatcher runs these several times a second under load.
_NOW: BindParameter[Any] = bindparam("b_now")

#: nobody's claim on the delivery still running
_UNCLAIMED = or_(DELIVERIES.c.claimed_until.is_(None), DELIVERIES.c.claimed_until <= _NOW)
#: a delivery due now: pending, its attempt due, and nobody's claim on it still running
_DUE = and_(DELIVERIES.c.status == PENDING, DELIVERIES.c.next_attempt_at <= _NOW, _UNCLAIMED)


def _in_queue(deliveries: Any) -> Any:
    """Whether a pending delivery holds its place in its recipient's queue: due, or never
    tried whatever its due time (see `_due_before`)."""
    return or_(deliveries.c.next_attempt_at <= _NOW, deliveries.c.attempts == 0)


#: a delivery in its recipient's queue, nobody's claim on it still running
_QUEUED = and_(DELIVERIES.c.status == PENDING, _in_queue(DELIVERIES), _UNCLAIMED)


# What a claim checks of a delivery's recipient, besides the delivery being due: nothing of
# theirs in flight, and no delivery of theirs due that comes before it in their conversation.
# The look that named the delivery may be a moment old, on this node or another: since then
# another node may have claimed one of the person's messages, or an earlier one's retry may
# have fallen due. On SQLite a look asks the second question of every due delivery too
# (`_FIRST_IN_QUEUE`).
_OTHER = DELIVERIES.alias("other")
_OTHER_MESSAGE = MESSAGES.alias("other_message")
_SAME_RECIPIENT = and_(
    _OTHER.c.channel_id == DELIVERIES.c.channel_id, _OTHER.c.recipient == DELIVERIES.c.recipient
)
# The status is said as a literal, so that both databases read `ix_deliveries_pending` (the
# person's pending deliveries), whose condition a bound parameter cannot match. Each check is
# a subquery run for each delivery, reading that person's entries (`OFFSET 0` keeps
# PostgreSQL from turning it into a join, which it may plan as a read of every pending
# delivery, or of every earlier message by the index of sequences, for each one).
_OTHER_PENDING = _OTHER.c.status == literal_column(f"'{PENDING}'")
_NONE_IN_FLIGHT = ~(
    select(_OTHER.c.message_id)
    .where(_SAME_RECIPIENT, _OTHER_PENDING, _OTHER.c.claimed_until > _NOW)
    .offset(0)
    .exists()
)


def _due_before(conversation_id: Any, sequence: Any, *other: Any) -> Any:
    """Whether a delivery of the person's is due that comes before the message at
    `conversation_id` and `sequence` (columns, or subqueries) in their conversation.

    One never tried counts whatever its due time: each node stamps a send due when it accepts
    it, by its own clock, and a node whose clock is ahead stamps an earlier message due after
    a later one this node just accepted. Only a retry's wait holds up no one.
    """
    return (
        select(_OTHER.c.message_id)
        .join(_OTHER_MESSAGE, _OTHER_MESSAGE.c.id == _OTHER.c.message_id)
        .where(
            _SAME_RECIPIENT,
            _OTHER_PENDING,
            _in_queue(_OTHER),
            *other,
            or_(
                _OTHER_MESSAGE.c.conversation_id < conversation_id,
                and_(
                    _OTHER_MESSAGE.c.conversation_id == conversation_id,
                    _OTHER_MESSAGE.c.sequence < sequence,
                ),
            ),
        )
        .offset(0)
        .exists()
    )


_NONE_BEFORE = ~_due_before(MESSAGES.c.conversation_id, MESSAGES.c.sequence)


def _own_message(column: str) -> Any:
    """A column of the delivery's message, read only where it is asked for."""
    own = MESSAGES.alias("own_message")
    return (
        select(own.c[column])
        .where(own.c.id == DELIVERIES.c.message_id)
        .correlate(DELIVERIES)
        .scalar_subquery()
    )


#: a due delivery that heads its recipient's queue, as SQLite finds it: see `_heads_query`
_FIRST_IN_QUEUE = ~_due_before(
    _own_message("conversation_id"),
    _own_message("sequence"),
    _OTHER.c.message_id != DELIVERIES.c.message_id,
)


def _heads_query(ranked: bool, *channel: Any) -> Any:
    """The head of each recipient's due queue, recipients served longest ago first; of the
    channels `channel` (a condition) lets in, or of all.

    A recipient's queue is in the conversation's order (the order the inbox shows), not in
    the order of the due times: each node stamps a send with its own clock as it accepts
    it, so two nodes taking sends to one person at the same moment stamp them out of order.
    A look reads every due delivery, and the two databases find the heads their own way
    (`ranked` for PostgreSQL). PostgreSQL ranks each person's deliveries with one sort,
    which it runs in parallel workers. SQLite asks of each delivery whether another one of
    the person's is due, through their pending deliveries' index, and reads the delivery's
    message only when one is: in a campaign (a message each) it reads none. Joining every
    due delivery's message and ranking them took SQLite 480 ms of a 100,000 queue's look,
    against 320 ms this way; PostgreSQL, asked this way, took 780 ms against 440.
    """
    columns = (
        DELIVERIES.c.message_id,
        DELIVERIES.c.channel_id,
        DELIVERIES.c.recipient,
        DELIVERIES.c.next_attempt_at,
    )
    if ranked:
        rank = func.row_number().over(
            partition_by=(DELIVERIES.c.channel_id, DELIVERIES.c.recipient),
            order_by=(MESSAGES.c.conversation_id, MESSAGES.c.sequence),
        )
        due = (
            select(*columns, rank.label("rank"))
            .join(MESSAGES, MESSAGES.c.id == DELIVERIES.c.message_id)
            .where(_QUEUED, *channel)
            .subquery()
        )
        first = [due.c.rank == 1, due.c.next_attempt_at <= _NOW]
    else:
        due = select(*columns).where(_DUE, *channel, _FIRST_IN_QUEUE).subquery()
        first = []  # (the subquery names only heads)
    # A recipient is in flight as a whole: the recipients with a claimed delivery are read
    # once and their heads left out, rather than looked up again for every due row. (So
    # every delivery due of a recipient whose head is named is unclaimed, as `_DUE` asks.)
    in_flight = select(DELIVERIES.c.channel_id, DELIVERIES.c.recipient).where(
        DELIVERIES.c.status == PENDING, DELIVERIES.c.claimed_until > _NOW
    )
    heads = (
        select(due.c.message_id, due.c.channel_id, due.c.recipient, due.c.next_attempt_at)
        .where(*first, tuple_(due.c.channel_id, due.c.recipient).not_in(in_flight))
        .subquery()
    )
    served = DELIVERIES.alias("served")
    last_served = (
        select(func.max(served.c.accepted_at))
        .where(
            served.c.channel_id == heads.c.channel_id,
            served.c.recipient == heads.c.recipient,
        )
        .scalar_subquery()
    )
    return (
        select(heads.c.message_id, heads.c.channel_id)
        .order_by(last_served.asc().nulls_first(), heads.c.next_attempt_at)
        .limit(bindparam("b_limit", type_=Integer))
    )


#: (ranked or not: see `_heads_query`)
_HEADS = {ranked: _heads_query(ranked) for ranked in (False, True)}
#: the same, of the channels a look cut short by its limit left out
_HEADS_ELSEWHERE = {
    ranked: _heads_query(
        ranked, DELIVERIES.c.channel_id.not_in(bindparam("b_seen", expanding=True))
    )
    for ranked in (False, True)
}
_NEXT_DUE = select(func.min(DELIVERIES.c.next_attempt_at)).where(
    DELIVERIES.c.status == PENDING, DELIVERIES.c.next_attempt_at > _NOW
)


def find_due(session: Session, now: datetime, limit: int) -> Due:
    """The head of each recipient's due queue, recipients served longest ago first; `limit`
    of them, and as many again of the channels those leave out.

    Messages to one recipient on one channel go out one at a time, in the order of their
    conversation (the inbox's), so a recipient with a message in flight is skipped. A
    message not due yet (waiting for a retry) holds up no one. Among recipients, the one
    whose last message was accepted longest ago (or never) comes first: a bulk send to one
    person takes turns with replies to everybody else instead of starving them.
    """
    connection = session.connection()
    ranked = connection.dialect.name == "postgresql"
    rows = list(connection.execute(_HEADS[ranked], {"b_now": now, "b_limit": limit}))
    if len(rows) >= limit:
        # A look cut short may hold one channel's heads only: a campaign waiting for its
        # channel's pace, longer than a look takes in, would fill every look, and a reply
        # on another channel accepted after it would wait for the campaign to be sent.
        seen = sorted({str(r.channel_id) for r in rows})
        values = {"b_now": now, "b_limit": limit, "b_seen": seen}
        rows += connection.execute(_HEADS_ELSEWHERE[ranked], values)
    next_due = connection.execute(_NEXT_DUE, {"b_now": now}).scalar()
    return Due(
        [Candidate(str(r.message_id), str(r.channel_id)) for r in rows],
        aware(next_due) if next_due is not None else None,
    )


# On PostgreSQL two nodes' claims run side by side, and neither sees the other's before it
# commits: each first takes a lock per recipient for its transaction, skipping the
# recipients another node is claiming for right now. The statement after the lock reads
# what the lock's last holder committed (READ COMMITTED takes a new snapshot per statement).
_LOCK_RECIPIENTS = text(
    """
    WITH asked AS MATERIALIZED (
        SELECT message_id, channel_id, recipient FROM deliveries WHERE message_id IN :b_ids
    )
    SELECT message_id FROM asked
    WHERE pg_try_advisory_xact_lock(
        hashtextextended('deliveries' || chr(10) || channel_id || chr(10) || recipient, 0)
    )
    """
).bindparams(bindparam("b_ids", expanding=True))


def claimer(
    ids: list[str],
    now: datetime,
    lease: timedelta,
    directory: Directory,
    postgres: bool,
) -> Callable[[Session], list[Job]]:
    """A write that claims those of `ids` still due and heading their recipient's queue with
    nothing of the recipient's in flight, and returns them as jobs.

    One SELECT reads each delivery with its message and conversation, one UPDATE claims them
    (on PostgreSQL, after the recipients' locks).
    """

    def claim(session: Session) -> list[Job]:
        if not ids:
            return []
        connection = session.connection()
        asked = ids
        if postgres:
            asked = list(connection.execute(_LOCK_RECIPIENTS, {"b_ids": ids}).scalars())
            if not asked:
                return []
        query = _CLAIMABLE_UNLOCKED if postgres else _CLAIMABLE
        rows = connection.execute(query, {"b_ids": asked, "b_now": now}).all()
        if not rows:
            return []
        claimed = {"b_claimed": [row.message_id for row in rows], "b_until": now + lease}
        connection.execute(_CLAIM, claimed)
        return [_job(row, now, directory) for row in rows]

    return claim


#: `_DUE` for the deliveries a claim is given: the status is said so that no index keyed by
#: it is usable, and the claim reads its deliveries by their ids. (SQLite, which keeps no
#: statistics here, otherwise reads every due delivery through `ix_deliveries_due`: the
#: whole backlog at every claim.)
_STILL_DUE = and_(
    func.coalesce(DELIVERIES.c.status, "") == PENDING,
    DELIVERIES.c.next_attempt_at <= _NOW,
    _UNCLAIMED,
)
_CLAIMABLE = (
    select(
        DELIVERIES.c.message_id,
        DELIVERIES.c.conversation_id.label("delivery_conversation_id"),
        DELIVERIES.c.channel_id,
        DELIVERIES.c.recipient,
        DELIVERIES.c.status,
        DELIVERIES.c.provider_message_ids,
        DELIVERIES.c.parts_sent,
        DELIVERIES.c.attempts,
        DELIVERIES.c.agent_window,
        DELIVERIES.c.updated_at,
        DELIVERIES.c.error_code,
        DELIVERIES.c.error_message,
        *(MESSAGES.c[name].label(f"m_{name}") for name in MESSAGE_COLUMNS),
        CONVERSATIONS.c.last_inbound_at,
        CONVERSATIONS.c.last_inbound_channel_id,
    )
    .join(MESSAGES, MESSAGES.c.id == DELIVERIES.c.message_id)
    .outerjoin(CONVERSATIONS, CONVERSATIONS.c.id == DELIVERIES.c.conversation_id)
    .where(
        DELIVERIES.c.message_id.in_(bindparam("b_ids", expanding=True)),
        _STILL_DUE,
        _NONE_IN_FLIGHT,
        _NONE_BEFORE,
    )
)
# another node may be claiming the same rows: take only those nobody holds
_CLAIMABLE_UNLOCKED = _CLAIMABLE.with_for_update(skip_locked=True, of=DELIVERIES)
_CLAIM = (
    update(DELIVERIES)
    .where(DELIVERIES.c.message_id.in_(bindparam("b_claimed", expanding=True)))
    .values(claimed_until=bindparam("b_until"))
)


def _job(row: Any, now: datetime, directory: Directory) -> Job:
    message = NewMessage(**{name: getattr(row, f"m_{name}") for name in MESSAGE_COLUMNS})
    delivery = DeliveryState(
        row.channel_id,
        row.status,
        row.provider_message_ids,
        row.updated_at,
        row.error_code,
        row.error_message,
    )
    answers = (
        row.last_inbound_at is not None
        and row.last_inbound_channel_id == row.channel_id
        and _recent(row.last_inbound_at, row.channel_id, now, directory)
    )
    return Job(
        message_id=row.message_id,
        conversation_id=row.delivery_conversation_id,
        channel_id=row.channel_id,
        recipient=row.recipient,
        content=dict(row.m_content),
        parts_sent=row.parts_sent,
        attempts=row.attempts,
        agent_window=row.agent_window,
        is_response=answers,
        wire_message=message_wire(message, delivery, directory),
    )


def _recent(
    last_inbound_at: datetime, channel_id: str, now: datetime, directory: Directory
) -> bool:
    """Whether the participant's last message on the channel is recent enough to answer."""
    info = directory.get(channel_id)
    window = info.capabilities.messaging_window if info else None
    return now - aware(last_inbound_at) <= (window or RESPONSE_WINDOW)


def releaser(ids: list[str]) -> Callable[[Session], int]:
    """A write that lets go of the claims on `ids`, so the next round may take them at once."""

    def release(session: Session) -> int:
        if not ids:
            return 0
        result = session.execute(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.message_id).in_(ids), col(DeliveryRow.claimed_until).is_not(None)
            )
            .values(claimed_until=None)
        )
        released = int(getattr(result, "rowcount", 0) or 0)
        if released:
            tell_sends_queued(session)  # another node may take them at once
        return released

    return release


def lease_keeper(ids: list[str]) -> Callable[[Session], int]:
    """A write that keeps the claims on `ids` and holds their next attempt until the lease ends.

    For a send the provider may have taken without answering: sending it again before the
    lease ends would likely send it twice. `next_attempt_at == claimed_until` also tells a
    SQLite start-up (which releases a killed process's claims) to leave such a claim alone.
    """

    def keep(session: Session) -> int:
        if not ids:
            return 0
        result = session.execute(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.message_id).in_(ids),
                col(DeliveryRow.status) == PENDING,
                col(DeliveryRow.claimed_until).is_not(None),
            )
            .values(next_attempt_at=col(DeliveryRow.claimed_until))
        )
        kept = int(getattr(result, "rowcount", 0) or 0)
        if kept:
            # another node's last look may not know it falls due when the lease ends
            tell_sends_queued(session)
        return kept

    return keep


def release_abandoned(session: Session) -> int:
    """Let go of the claims a killed process left behind; not those a stop kept (see above).

    A claim taken by a running dispatcher always ends after the attempt fell due, so a claim
    whose next attempt waits for its end was kept on purpose.
    """
    result = session.execute(
        update(DeliveryRow)
        .where(
            col(DeliveryRow.claimed_until).is_not(None),
            or_(
                col(DeliveryRow.next_attempt_at).is_(None),
                col(DeliveryRow.next_attempt_at) < col(DeliveryRow.claimed_until),
            ),
        )
        .values(claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
