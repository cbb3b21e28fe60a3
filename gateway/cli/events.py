"""`inbox-gateway events`: what the outgoing webhooks still owe, and sending events again."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlmodel import Session, col, func, select

from gateway.clock import now, rfc3339
from gateway.config import Config, database_url
from gateway.events.outbox import newest_seq
from gateway.events.subscribers.progress import mark_replay
from gateway.events.subscribers.redact import redact
from gateway.events.subscribers.sender import Subscriber, subscribers
from gateway.plugins.registry import load_checked_config
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import EventRow
from gateway.store.webhook_models import (
    FAILED,
    REPLAY,
    RETRYING,
    WebhookAttemptRow,
    WebhookCursorRow,
)


def add_events_command(subparsers: Any) -> None:
    """Register `inbox-gateway events` on the CLI's subcommands."""
    events = subparsers.add_parser(
        "events", help="list outgoing webhook events not delivered, or send events again"
    )
    events.add_argument("--config", "-c", default="./inbox-gateway.toml", help="TOML file")
    shown = events.add_mutually_exclusive_group()
    shown.add_argument("--failed", action="store_true", help="events given up on")
    shown.add_argument("--pending", action="store_true", help="events still being tried")
    shown.add_argument("--replay", metavar="EVENT_ID", help="send one event again")
    shown.add_argument(
        "--replay-failed", action="store_true", help="send every given-up event again"
    )
    events.set_defaults(func=run_events)


def run_events(args: argparse.Namespace) -> int:
    """The `events` command; returns the exit status."""
    config = load_checked_config(args.config)
    engine = create_db_engine(database_url(config))
    try:
        migrate.upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            if args.replay:
                status = replay_one(session, config, args.replay)
            elif args.replay_failed:
                status = replay_failed(session, config)
            else:
                status = show(session, config, failed=args.failed, pending=args.pending)
            session.commit()
    finally:
        engine.dispose()
    return status


def _by_key(config: Config) -> dict[str, Subscriber]:
    return {s.key: s for s in subscribers(config.webhooks)}


def show(session: Session, config: Config, *, failed: bool, pending: bool) -> int:
    """Print each subscriber's backlog, then the events asked for."""
    subs = _by_key(config)
    if not subs:
        print("no [[webhooks]] are configured")
        return 0
    newest = newest_seq(session)
    for key, sub in subs.items():
        cursor = session.get(WebhookCursorRow, key)
        behind = newest - cursor.last_seq if cursor else 0
        counts = dict(
            session.exec(
                select(WebhookAttemptRow.state, func.count())
                .where(WebhookAttemptRow.subscriber == key)
                .group_by(WebhookAttemptRow.state)
            ).all()
        )
        started = "" if cursor else " (not started yet)"
        print(
            f"{redact(sub.url)}{started}: {behind} events behind, "
            f"{counts.get(RETRYING, 0) + counts.get(REPLAY, 0)} being retried, "
            f"{counts.get(FAILED, 0)} failed"
        )
    if failed or pending:
        states = [FAILED] if failed else [RETRYING, REPLAY]
        rows = session.exec(
            select(WebhookAttemptRow, EventRow)
            .join(EventRow, col(EventRow.seq) == col(WebhookAttemptRow.event_seq))
            .where(col(WebhookAttemptRow.state).in_(states))
            .order_by(col(WebhookAttemptRow.event_seq))
        ).all()
        for attempt, event in rows:
            known = subs.get(attempt.subscriber)
            url = redact(known.url) if known else "(subscriber no longer configured)"
            when = rfc3339(attempt.next_attempt_at) if attempt.next_attempt_at else "-"
            print(
                f"{event.id}  {event.slug}  {rfc3339(event.event_time)}  {url}  "
                f"{attempt.state} after {attempt.attempts} attempts, next {when}: "
                f"{attempt.last_error or ''}"
            )
        if not rows:
            print("no failed events" if failed else "no events being retried")
    return 0


def replay_one(session: Session, config: Config, event_id: str) -> int:
    """Queue one event for every subscriber that wants its kind."""
    event = session.exec(select(EventRow).where(EventRow.id == event_id)).first()
    if event is None:
        kept = config.events.keep_days
        why = f" (the outbox keeps events for {kept} days: [events] keep_days)" if kept else ""
        print(f"no event {event_id!r}{why}", file=sys.stderr)
        return 1
    keys = [s.key for s in _by_key(config).values() if event.slug in s.slugs]
    count = mark_replay(session, event, keys, now())
    print(f"event {event_id} ({event.slug}) will be sent again to {count} subscriber(s)")
    return 0


def replay_failed(session: Session, config: Config) -> int:
    """Queue every given-up event again, for its subscriber."""
    subs = _by_key(config)
    rows = session.exec(
        select(WebhookAttemptRow, EventRow)
        .join(EventRow, col(EventRow.seq) == col(WebhookAttemptRow.event_seq))
        .where(WebhookAttemptRow.state == FAILED)
    ).all()
    count = 0
    for attempt, event in rows:
        if attempt.subscriber in subs:
            count += mark_replay(session, event, [attempt.subscriber], now())
    print(f"{count} failed event(s) will be sent again")
    return 0
