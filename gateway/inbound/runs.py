"""Provider requests whose events are of several kinds, stored in runs of one kind.

Meta batches the entries of several people in one webhook: a customer's read receipt or a
delivery watermark often comes with other customers' messages. Such a request is no item of
the batches of one kind (`inbound.batch`), and it once took `ingest_events` whole, at a dozen
statements a message. Here each request's events are cut into runs of consecutive events of
one kind, and the requests of one group commit are stored side by side, run after run: the
first run of every request, then the second, and so on, so that each request keeps its
order. The runs of plain messages (taps on buttons among them) of all the requests at one
step are stored together as `store_messages` stores a batch, the runs of plain statuses as
`store_statuses` does, and only the rest by `ingest_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TypeVar

from sqlmodel import Session

from channels import InboundEvent, InboundMessage, StatusUpdate
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
from gateway.store.writer import BatchHandler

_MESSAGES, _STATUSES, _OTHER = "messages", "statuses", "other"
I = TypeVar("I")  # noqa: E741 - the item a batch takes


@dataclass(frozen=True)
class MixedItem:
    """One provider request's events, of several kinds, for one channel."""

    channel_id: str
    events: Sequence[InboundEvent]
    directory: Directory


Run = tuple[str, list[InboundEvent]]


def store_mixed(session: Session, items: list[MixedItem]) -> list[IngestReport]:
    """Apply every item's events, each item in its order; one report per item."""
    runs = [[(kind, list(run)) for kind, run in groupby(i.events, key=_kind)] for i in items]
    reports = [IngestReport() for _ in items]
    # a provider's retry of a STOP (or START) stored already must not apply its keyword again
    repeated: list[set[str]] = [set() for _ in items]
    for step in range(max(map(len, runs), default=0)):
        at_step = [(i, of_item[step]) for i, of_item in enumerate(runs) if step < len(of_item)]
        messages = [(i, _plain_messages(run)) for i, (kind, run) in at_step if kind == _MESSAGES]
        if messages:
            batch = [
                InboundItem(items[i].channel_id, run, items[i].directory) for i, run in messages
            ]
            for (index, run), part in zip(
                messages, _batched(session, store_messages, batch), strict=True
            ):
                _add(reports[index], part)
                repeated[index].update(
                    message.participant.address
                    for message, outcome in zip(run, part.outcomes, strict=True)
                    if outcome.duplicate
                )
        statuses = [(i, _plain_statuses(run)) for i, (kind, run) in at_step if kind == _STATUSES]
        if statuses:
            updates = [
                StatusItem(items[i].channel_id, run, items[i].directory) for i, run in statuses
            ]
            for (index, _), part in zip(
                statuses, _batched(session, store_statuses, updates), strict=True
            ):
                _add(reports[index], part)
        for index, (kind, events) in at_step:
            if kind == _OTHER:
                item = items[index]
                ingested = ingest_events(
                    session, item.channel_id, events, item.directory, repeated[index]
                )
                _add(reports[index], ingested)
    return reports


#: requests of several kinds of events, stored side by side (what the ORM's way appends is
#: read by the feed from the table)
STORE_MIXED: BatchHandler[MixedItem, IngestReport] = BatchHandler(
    "inbound-mixed", store_mixed, announces_all=False
)


def _add(report: IngestReport, part: IngestReport) -> None:
    report.outcomes.extend(part.outcomes)
    report.new_participants.extend(part.new_participants)
    report.stored_messages += part.stored_messages


def _plain_messages(run: list[InboundEvent]) -> list[InboundMessage]:
    return [message for message in map(plain_message, run) if message is not None]


def _plain_statuses(run: list[InboundEvent]) -> list[StatusUpdate]:
    return [update for update in map(plain_status, run) if update is not None]


def _kind(event: InboundEvent) -> str:
    if plain_message(event) is not None:
        return _MESSAGES
    if plain_status(event) is not None:
        return _STATUSES
    return _OTHER


def _batched(
    session: Session, store: Callable[[Session, list[I]], list[IngestReport]], items: list[I]
) -> list[IngestReport]:
    """`store`'s statements (SQLAlchemy Core, past the ORM) among the ORM's: the ORM's
    pending writes are flushed for them to see, and what the ORM holds is read again after."""
    session.flush()
    reports = store(session, items)
    session.expire_all()
    return reports
