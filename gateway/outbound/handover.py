"""Sends stored already claimed by the node that accepted them, for its dispatcher.

Left to the dispatcher, a send the API accepted costs two more trips through the database
before it goes out: a look for due deliveries, then a write that claims it. When this node's
dispatcher has a free place, the send is stored claimed instead, and handed to the dispatcher
after the commit; that needs what the claim would check, in the storing transaction:

- the recipient has nothing queued before it on the channel (a delivery in flight, or one due
  now): messages to one recipient go out one at a time and in order, so the new one then
  waits its turn in the dispatcher's queue. SQLite's one writer sees every send stored
  before; the check comes after the messages were appended (on PostgreSQL that would hold
  the conversations' rows, but it does not use this path: see `Dispatcher.ticket`);
- the channel is not paced: a paced channel's sends wait for their pace in the dispatcher,
  which keeps only about a second's worth of them claimed.

Whatever is not claimed here is left pending, as before, for the dispatcher to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select
from sqlmodel import Session

from channels import DeliveryStatus
from gateway.domain.directory import Directory
from gateway.domain.records import MessageFields
from gateway.outbound.claim import Job, answers_participant
from gateway.store.models import ConversationRow
from gateway.store.tables import DELIVERIES
from gateway.store.writer import CLAIMED

if TYPE_CHECKING:  # the rules store sends through this module
    from gateway.outbound.rules import Route

PENDING = DeliveryStatus.PENDING.value


@dataclass
class Ticket:
    """A free place in this node's dispatcher, held for one send while it is stored."""

    #: how long the claim holds, as the dispatcher's own claims do
    lease: timedelta
    #: the channels whose sends wait for the dispatcher's pace: never claimed here
    paced: frozenset[str]
    #: the message stored claimed with this ticket, once the write ran (None: left pending)
    claimed: str | None = None


@dataclass(frozen=True)
class NewSend:
    """A delivery about to be stored, with what its job needs."""

    ticket: Ticket
    message: MessageFields
    route: Route
    conversation: ConversationRow
    #: the message's public form, with its pending delivery
    wire: dict[str, Any]
    now: datetime
    directory: Directory

    @property
    def queue(self) -> tuple[str, str]:
        return self.route.identity.channel_id, self.route.identity.address


# Built once, its values bound at each call, as the claim's statements are (`outbound.claim`).
_QUEUED = select(DELIVERIES.c.channel_id, DELIVERIES.c.recipient).where(
    DELIVERIES.c.channel_id.in_(bindparam("b_channels", expanding=True)),
    DELIVERIES.c.recipient.in_(bindparam("b_recipients", expanding=True)),
    DELIVERIES.c.status == PENDING,
    # in flight, or due now; one waiting for a later retry lets newer messages go first, as
    # in the dispatcher's queue
    or_(
        DELIVERIES.c.claimed_until > bindparam("b_now"),
        DELIVERIES.c.next_attempt_at <= bindparam("b_now"),
    ),
)


def claim_as_stored(session: Session, sends: list[NewSend]) -> dict[str, datetime]:
    """Which of these deliveries (not stored yet) are stored claimed: message id → the end
    of the claim. Their jobs go to the writer's list for the dispatcher (`CLAIMED`), and
    their tickets name them."""
    for send in sends:
        send.ticket.claimed = None  # a batch run again alone decides again
    wanted = [send for send in sends if send.route.identity.channel_id not in send.ticket.paced]
    if not wanted:
        return {}
    now = max(send.now for send in wanted)
    rows = session.connection().execute(
        _QUEUED,
        {
            "b_channels": sorted({send.queue[0] for send in wanted}),
            "b_recipients": sorted({send.queue[1] for send in wanted}),
            "b_now": now,
        },
    )
    busy = {(row.channel_id, row.recipient) for row in rows}
    claimed: dict[str, datetime] = {}
    jobs: list[Job] = session.info[CLAIMED]
    for send in wanted:
        if send.queue in busy:
            continue
        busy.add(send.queue)  # the next send to the same recipient waits for this one
        claimed[send.message.id] = send.now + send.ticket.lease
        send.ticket.claimed = send.message.id
        jobs.append(_job(send))
    return claimed


def _job(send: NewSend) -> Job:
    message, route, conversation = send.message, send.route, send.conversation
    channel_id = route.identity.channel_id
    return Job(
        message_id=message.id,
        conversation_id=message.conversation_id,
        channel_id=channel_id,
        recipient=route.identity.address,
        content=dict(message.content),
        parts_sent=0,
        attempts=0,
        agent_window=route.agent_window,
        is_response=answers_participant(
            conversation.last_inbound_at,
            conversation.last_inbound_channel_id,
            channel_id,
            send.now,
            send.directory,
        ),
        wire_message=send.wire,
    )
