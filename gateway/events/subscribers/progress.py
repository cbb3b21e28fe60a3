"""Each subscriber's progress through the outbox: its cursor, retries, replays and give-ups.

A subscriber gets events strictly in outbox order: while its oldest unsent event is being
retried, later events wait for it (so every conversation's events arrive in order). A dead
subscriber therefore only delays itself. After `patience` of failures an event is given up
on (listed by `inbox-gateway events --failed`, sent again by `--replay`) and the rest follow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from gateway.backoff import Schedule, Uniform, webhook_delay
from gateway.clock import aware
from gateway.events.outbox import newest_seq
from gateway.store.models import EventRow
from gateway.store.webhook_models import (
    FAILED,
    REPLAY,
    RETRYING,
    WebhookAttemptRow,
    WebhookCursorRow,
)

#: on PostgreSQL, a gap in the event numbers may be a transaction still committing: this long
#: it is waited for before the events after it go out
GAP_GRACE = timedelta(seconds=5)
#: events read per look at the outbox
BATCH = 200


@dataclass(frozen=True)
class Work:
    """The next thing to do for one subscriber."""

    #: the event to POST now
    event: EventRow | None = None
    #: True when `event` is a replay, sent apart from the in-order stream
    replay: bool = False
    #: events up to here need nothing (other slugs): move the cursor past them
    skip_to: int | None = None
    #: nothing is due before this time
    wait_until: datetime | None = None


def cursor_opener(key: str, url: str, stamp: datetime) -> Callable[[Session], None]:
    """A write that starts a new subscriber at the end of the outbox (it gets what follows)."""

    def open_cursor(session: Session) -> None:
        row = session.get(WebhookCursorRow, key)
        if row is None:
            session.add(
                WebhookCursorRow(
                    subscriber=key, url=url, last_seq=newest_seq(session), updated_at=stamp
                )
            )
        elif row.url != url:
            row.url = url

    return open_cursor


def lease_taker(
    key: str, owner: str, stamp: datetime, lease: timedelta, force: bool
) -> Callable[[Session], bool]:
    """A write that makes `owner` the one sender of the subscriber for `lease`."""

    def take(session: Session) -> bool:
        statement = update(WebhookCursorRow).where(col(WebhookCursorRow.subscriber) == key)
        if not force:
            statement = statement.where(
                or_(
                    col(WebhookCursorRow.owner) == owner,
                    col(WebhookCursorRow.owner).is_(None),
                    col(WebhookCursorRow.leased_until).is_(None),
                    col(WebhookCursorRow.leased_until) <= stamp,
                )
            )
        result = session.execute(statement.values(owner=owner, leased_until=stamp + lease))
        return bool(getattr(result, "rowcount", 0))

    return take


def held_elsewhere(key: str, owner: str, stamp: datetime) -> Callable[[Session], bool]:
    """A read: does another sender hold the subscriber's lease at `stamp`?"""

    def look(session: Session) -> bool:
        row = session.get(WebhookCursorRow, key)
        if row is None or row.owner in (None, owner) or row.leased_until is None:
            return False
        return aware(row.leased_until) > stamp

    return look


def next_work(
    session: Session, key: str, slugs: Collection[str], stamp: datetime, gapless: bool
) -> Work:
    """What the subscriber needs next: a due replay, its next event, or nothing yet."""
    cursor = session.get(WebhookCursorRow, key)
    if cursor is None:
        return Work()
    replay = session.exec(
        select(WebhookAttemptRow)
        .where(
            WebhookAttemptRow.subscriber == key,
            WebhookAttemptRow.state == REPLAY,
            col(WebhookAttemptRow.next_attempt_at) <= stamp,
        )
        .order_by(col(WebhookAttemptRow.event_seq))
    ).first()
    if replay is not None:
        event = session.exec(select(EventRow).where(EventRow.seq == replay.event_seq)).first()
        if event is not None:
            return Work(event=event, replay=True)
    events = session.exec(
        select(EventRow)
        .where(col(EventRow.seq) > cursor.last_seq)
        .order_by(col(EventRow.seq))
        .limit(BATCH)
    ).all()
    expected = cursor.last_seq + 1
    skipped: int | None = None
    head: EventRow | None = None
    for event in events:
        seq = event.seq or 0
        if seq != expected and not gapless and stamp - aware(event.event_time) < GAP_GRACE:
            break
        expected = seq + 1
        if event.slug in slugs:
            head = event
            break
        skipped = seq
    wait_until = _next_replay(session, key)
    if head is None:
        return Work(skip_to=skipped, wait_until=wait_until)
    attempt = session.get(WebhookAttemptRow, (key, head.seq))
    if attempt is not None and attempt.state == RETRYING and attempt.next_attempt_at:
        due = aware(attempt.next_attempt_at)
        if due > stamp:
            until = min(due, wait_until) if wait_until else due
            return Work(skip_to=skipped, wait_until=until)
    return Work(event=head, skip_to=skipped)


def _next_replay(session: Session, key: str) -> datetime | None:
    when = session.exec(
        select(func.min(WebhookAttemptRow.next_attempt_at)).where(
            WebhookAttemptRow.subscriber == key, WebhookAttemptRow.state == REPLAY
        )
    ).one()
    return aware(when) if when is not None else None


def _advance(session: Session, key: str, owner: str, seq: int, stamp: datetime) -> bool:
    result = session.execute(
        update(WebhookCursorRow)
        .where(
            col(WebhookCursorRow.subscriber) == key,
            col(WebhookCursorRow.owner) == owner,
            col(WebhookCursorRow.last_seq) < seq,
        )
        .values(last_seq=seq, updated_at=stamp)
    )
    return bool(getattr(result, "rowcount", 0))


def skipper(key: str, owner: str, seq: int, stamp: datetime) -> Callable[[Session], bool]:
    """A write that moves the cursor past events the subscriber did not ask for."""
    return lambda session: _advance(session, key, owner, seq, stamp)


def success_recorder(
    key: str, owner: str, event: EventRow, replay: bool, stamp: datetime
) -> Callable[[Session], None]:
    """A write recording that the subscriber took the event."""

    def record(session: Session) -> None:
        attempt = session.get(WebhookAttemptRow, (key, event.seq))
        if attempt is not None and (replay or attempt.state == RETRYING):
            session.delete(attempt)
        if not replay:
            _advance(session, key, owner, event.seq or 0, stamp)

    return record


def failure_recorder(
    key: str,
    owner: str,
    event: EventRow,
    replay: bool,
    error: str,
    stamp: datetime,
    schedule: Schedule,
    uniform: Uniform,
) -> Callable[[Session], WebhookAttemptRow]:
    """A write recording a failed POST: the next try, or giving up after `patience`."""

    def record(session: Session) -> WebhookAttemptRow:
        seq = event.seq or 0
        attempt = session.get(WebhookAttemptRow, (key, seq))
        if attempt is None:
            attempt = WebhookAttemptRow(
                subscriber=key,
                event_seq=seq,
                event_id=event.id,
                state=RETRYING,
                updated_at=stamp,
            )
            session.add(attempt)
        if attempt.first_failed_at is None:
            attempt.first_failed_at = stamp
        attempt.attempts += 1
        attempt.last_error = error[:2000]
        attempt.updated_at = stamp
        waited = stamp - aware(attempt.first_failed_at)
        if waited >= schedule.patience:
            attempt.state = FAILED
            attempt.next_attempt_at = None
            if not replay:
                _advance(session, key, owner, seq, stamp)
        else:
            attempt.state = REPLAY if replay else RETRYING
            delay = webhook_delay(attempt.attempts, schedule.delays, schedule.every, uniform)
            attempt.next_attempt_at = stamp + timedelta(seconds=delay)
        session.flush()
        return attempt

    return record


def mark_replay(session: Session, event: EventRow, keys: Collection[str], stamp: datetime) -> int:
    """Queue the event to be sent again to each subscriber in `keys`; returns how many."""
    seq = event.seq or 0
    for key in keys:
        attempt = session.get(WebhookAttemptRow, (key, seq))
        if attempt is None:
            session.add(
                WebhookAttemptRow(
                    subscriber=key,
                    event_seq=seq,
                    event_id=event.id,
                    state=REPLAY,
                    next_attempt_at=stamp,
                    updated_at=stamp,
                )
            )
            continue
        if attempt.state != RETRYING:
            # a fresh replay gets the full retry schedule again
            attempt.state = REPLAY
            attempt.attempts = 0
            attempt.first_failed_at = None
        attempt.next_attempt_at = stamp
        attempt.updated_at = stamp
    return len(keys)
