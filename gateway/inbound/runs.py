"""A provider request whose events are of several kinds, stored in runs of one kind.

Meta batches the entries of several people in one webhook: a customer's read receipt often
comes with other customers' messages. Such a request cannot be an item of the group
commit's batches (`inbound.batch`), which take requests of one kind, and it once took
`ingest_events` whole, at a dozen statements a message. Here its events are cut into runs
of consecutive events of one kind, in the request's order, and each run of plain messages
(or plain statuses) is stored as a batch of one item stores it; only the rest takes
`ingest_events`. All of it is one job of the writer: one transaction, answered after its
commit, rolled back whole when any part fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import TypeVar

from sqlmodel import Session

from channels import InboundEvent
from gateway.domain.directory import Directory
from gateway.inbound.batch import (
    InboundItem,
    StatusItem,
    plain_message,
    plain_status,
    store_messages,
    store_statuses,
)
from gateway.inbound.ingest import IngestReport, ingest_events

_MESSAGES, _STATUSES, _OTHER = "messages", "statuses", "other"
I = TypeVar("I")  # noqa: E741 - the item a batch takes


def ingest_in_runs(
    session: Session, channel_id: str, events: Sequence[InboundEvent], directory: Directory
) -> IngestReport:
    """Apply every event of one provider request, in order, inside the session's transaction."""
    report = IngestReport()
    repeated: set[str] = set()
    for kind, run in groupby(events, key=_kind):
        if kind == _MESSAGES:
            messages = [m for m in map(plain_message, run) if m is not None]
            part = _batched(session, store_messages, InboundItem(channel_id, messages, directory))
            repeated.update(
                message.participant.address
                for message, outcome in zip(messages, part.outcomes, strict=True)
                if outcome.duplicate
            )
        elif kind == _STATUSES:
            updates = [u for u in map(plain_status, run) if u is not None]
            part = _batched(session, store_statuses, StatusItem(channel_id, updates, directory))
        else:
            part = ingest_events(session, channel_id, list(run), directory, repeated)
        report.outcomes.extend(part.outcomes)
        report.new_participants.extend(part.new_participants)
        report.stored_messages += part.stored_messages
    return report


def _kind(event: InboundEvent) -> str:
    if plain_message(event) is not None:
        return _MESSAGES
    if plain_status(event) is not None:
        return _STATUSES
    return _OTHER


def _batched(
    session: Session, store: Callable[[Session, list[I]], list[IngestReport]], item: I
) -> IngestReport:
    """`store`'s statements (SQLAlchemy Core, past the ORM) among the ORM's: the ORM's
    pending writes are flushed for them to see, and what the ORM holds is read again after."""
    session.flush()
    report = store(session, [item])[0]
    session.expire_all()
    return report
