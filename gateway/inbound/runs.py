"""Provider requests whose events are of several kinds, stored in runs of one kind.

A provider may batch the entries of several people in one webhook: a customer's read
receipt or a delivery watermark often comes with other customers' messages. Such a request
is no item of the batches of one kind (`inbound.batch`), and it once took `ingest_events`
whole, at a dozen statements a message. Here each request's events are cut into runs of
consecutive events of one kind, and the requests of one group commit are stored side by
side, run after run: the first run of every request, then the second, and so on, so that
each request keeps its order. The runs of plain messages (taps on buttons among them) of all
the requests at one step are stored together as `store_messages` stores a batch, the runs of
plain statuses as `store_statuses` does, their watermarks with a query a channel, and only
the rest by `ingest_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TypeVar

from sqlmodel import Session

from channels import DeliveryStatus, InboundEvent, IngestOutcome, StatusUpdate
from gateway.domain.delivery_status import Watermark, apply_watermarks
from gateway.domain.directory import Directory
from gateway.inbound.batch import (
    InboundItem,
    StatusItem,
    every,
    plain_message,
    plain_status,
    store_messages,
    store_statuses,
)
from gateway.inbound.ingest import IngestReport, ingest_events
from gateway.store.writer import BatchHandler

_MESSAGES, _STATUSES, _WATERMARKS, _OTHER = "messages", "statuses", "watermarks", "other"
I = TypeVar("I")  # noqa: E741 - the item a batch takes
E = TypeVar("E")  # the events of a run of one batched kind


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
        stored = _step(session, items, at_step, plain_message, store_messages, InboundItem)
        for index, messages, part in stored:
            _add(reports[index], part)
            repeated[index].update(
                message.participant.address
                for message, outcome in zip(messages, part.outcomes, strict=True)
                if outcome.duplicate
            )
        applied = _step(session, items, at_step, plain_status, store_statuses, StatusItem)
        for index, _, part in applied:
            _add(reports[index], part)
        for index, outcome in _watermarks(session, items, at_step):
            reports[index].outcomes.append(outcome)
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


def _step(
    session: Session,
    items: list[MixedItem],
    at_step: list[tuple[int, Run]],
    plain: Callable[[InboundEvent], E | None],
    store: Callable[[Session, list[I]], list[IngestReport]],
    item_of: Callable[[str, list[E], Directory], I],
) -> list[tuple[int, list[E], IngestReport]]:
    """The runs of one batched kind at this step, of every request, stored together:
    (request, its run, what storing it did)."""
    chosen = [(i, events) for i, (_, run) in at_step if (events := every(run, plain)) is not None]
    if not chosen:
        return []
    batch = [item_of(items[i].channel_id, events, items[i].directory) for i, events in chosen]
    parts = _batched(session, store, batch)
    return [(i, events, part) for (i, events), part in zip(chosen, parts, strict=True)]


def _watermarks(
    session: Session, items: list[MixedItem], at_step: list[tuple[int, Run]]
) -> list[tuple[int, IngestOutcome]]:
    """The runs of watermarks at this step, of every request, applied with a query a channel:
    (request, the outcome of each of its watermarks, in order)."""
    marks: dict[str, list[tuple[int, Watermark]]] = {}
    for index, (kind, run) in at_step:
        if kind == _WATERMARKS:
            channel = marks.setdefault(items[index].channel_id, [])
            channel.extend((index, mark) for mark in map(plain_watermark, run) if mark)
    outcomes: list[tuple[int, IngestOutcome]] = []
    for channel_id, of_channel in marks.items():
        moved = apply_watermarks(session, channel_id, [mark for _, mark in of_channel])
        outcomes += [
            (index, IngestOutcome(stored=n > 0))
            for (index, _), n in zip(of_channel, moved, strict=True)
        ]
    return outcomes


def _add(report: IngestReport, part: IngestReport) -> None:
    report.outcomes.extend(part.outcomes)
    report.new_participants.extend(part.new_participants)
    report.stored_messages += part.stored_messages


def plain_watermark(event: InboundEvent) -> Watermark | None:
    """The event as a plain watermark (no opt-out, no failure), or None."""
    if not isinstance(event, StatusUpdate) or event.provider_message_id is not None:
        return None
    if event.watermark is None or event.participant_address is None or event.opted_out:
        return None
    if event.status is DeliveryStatus.FAILED:
        return None
    return Watermark(event.participant_address, event.watermark, event.status)


def _kind(event: InboundEvent) -> str:
    if plain_message(event) is not None:
        return _MESSAGES
    if plain_status(event) is not None:
        return _STATUSES
    if plain_watermark(event) is not None:
        return _WATERMARKS
    return _OTHER


def _batched(
    session: Session, store: Callable[[Session, list[I]], list[IngestReport]], items: list[I]
) -> list[IngestReport]:
    """`store`'s statements (SQLAlchemy Core, past the ORM) among the ORM's: the ORM's
    pending writes are flushed for them to see, and what the ORM holds is read again after
    (once what `store` itself changed the ORM's way is written: expiring drops the unsaved)."""
    session.flush()
    reports = store(session, items)
    session.flush()
    session.expire_all()
    return reports
