"""How long the outbox keeps events: pruning the ones every subscriber is done with.

Every inbound message, reply and status appends an event, each about as large as the message
itself, so without pruning the outbox grows as fast as the conversations do. An event goes
once all of these hold:

- it is older than `[events] keep_days` (by its id, which carries its creation time, so the
  search walks the id index instead of reading every event's time);
- every configured `[[webhooks]]` subscriber's cursor has passed it (a subscriber that is
  behind, or down for days, still gets every event once it is back);
- no configured subscriber has it being retried, given up on, or queued for a replay (so
  `inbox-gateway events --failed` and `--replay-failed` still find it);
- it is not the newest event. SQLite hands out the next `seq` after the largest one left;
  keeping the newest keeps the numbers going up, which the cursors rely on.

A subscriber removed from the config no longer holds events back, neither by its cursor nor
by the events it was retrying: if it is added again later, it resumes after the events that
were pruned meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import exists, func
from sqlmodel import Session, col, delete, select
from sqlmodel.sql.expression import Select

from gateway.events.outbox import newest_seq
from gateway.store.models import EventRow
from gateway.store.webhook_models import WebhookAttemptRow, WebhookCursorRow

#: events deleted per transaction: the group commit it rides in stays short
PRUNE_BATCH = 2000


def id_before(moment: datetime) -> str:
    """The smallest possible id of an event made at `moment` or later.

    Ids are version 7 UUIDs in lower-case text, beginning with the milliseconds since 1970
    in hex, so every id made before `moment` sorts below this text and every later one
    above it.
    """
    text = f"{int(moment.timestamp() * 1000):012x}"
    return f"{text[:8]}-{text[8:]}"


def outbox_pruner(
    before: datetime, subscribers: Collection[str], batch: int = PRUNE_BATCH
) -> Callable[[Session], int]:
    """A write deleting up to `batch` events made before `before` that the subscribers
    (their keys) are done with; it answers how many it deleted."""

    def prune(session: Session) -> int:
        bound = _last_prunable_seq(session, subscribers)
        if bound is None:
            return 0
        found = session.exec(prunable(before, bound, subscribers, batch)).all()
        if not found:
            return 0
        # tries of subscribers no longer configured, which would point at nothing
        ids = [event_id for _, event_id in found]
        session.execute(delete(WebhookAttemptRow).where(col(WebhookAttemptRow.event_id).in_(ids)))
        session.execute(delete(EventRow).where(col(EventRow.seq).in_([seq for seq, _ in found])))
        return len(found)

    return prune


def prunable(
    before: datetime, bound: int, subscribers: Collection[str], batch: int
) -> Select[int | None, str]:
    """The first `batch` events made before `before`, up to `seq` `bound`, that none of the
    subscribers is retrying or gave up on, found through the index of ids: (seq, id)."""
    retried = exists().where(
        col(WebhookAttemptRow.event_id) == col(EventRow.id),
        col(WebhookAttemptRow.subscriber).in_(list(subscribers)),
    )
    return (
        select(col(EventRow.seq), col(EventRow.id))
        .where(col(EventRow.id) < id_before(before))
        .where(col(EventRow.seq) <= bound)
        .where(~retried)
        .order_by(col(EventRow.id))
        .limit(batch)
    )


def _last_prunable_seq(session: Session, subscribers: Collection[str]) -> int | None:
    """The highest `seq` that may go: below the newest event and every subscriber's cursor."""
    bound = newest_seq(session) - 1
    if subscribers:
        cursors = session.exec(
            select(func.min(WebhookCursorRow.last_seq)).where(
                col(WebhookCursorRow.subscriber).in_(list(subscribers))
            )
        ).one()
        if cursors is not None:
            bound = min(bound, int(cursors))
    return bound if bound > 0 else None
