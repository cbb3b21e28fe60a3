"""Events a group commit lists reach listeners at once, but never ahead of earlier ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.events.feed import EventFeed, Listener
from gateway.events.outbox import Appended
from gateway.store.database import Database
from gateway.store.writer import Committed


def appended(seq: int) -> Appended:
    return Appended(
        seq=seq,
        id=f"e{seq}",
        slug="message_sent_to_business",
        entity_fqdn="inbox.v2.message",
        entity_id="m",
        conversation_id="c",
        event_time=datetime.now(UTC),
        body={},
    )


@pytest.fixture
def feed(tmp_path: Path) -> EventFeed:
    feed = EventFeed(Database(f"sqlite:///{tmp_path / 'feed.db'}"))
    feed.cursor = 5
    return feed


def drain(listener: Listener) -> list[int]:
    return [item.seq or 0 for item in listener.ready()]


def test_a_commit_right_after_the_last_event_is_handed_out_at_once(feed: EventFeed) -> None:
    listener = feed.listen()
    feed.committed(Committed([appended(6), appended(7)], complete=True))
    assert drain(listener) == [6, 7] and feed.cursor == 7


def test_a_commit_after_unread_events_waits_for_the_read(feed: EventFeed) -> None:
    """Event 6 is another write's, still to be read: 7 and 8 must not overtake it."""
    listener = feed.listen()
    feed.committed(Committed([appended(7), appended(8)], complete=True))
    assert drain(listener) == [] and feed.cursor == 5
    feed.hand_out([appended(6), appended(7), appended(8)])  # what the read then finds
    assert drain(listener) == [6, 7, 8]


def test_a_commit_with_other_writes_is_read_from_the_table(feed: EventFeed) -> None:
    listener = feed.listen()
    woken: list[str] = []
    feed.delivery_wakers.append(lambda queued: woken.append("dispatcher"))
    feed.committed(Committed([appended(6)], complete=False))
    assert drain(listener) == [] and woken == ["dispatcher"]
    feed.committed(Committed([appended(7)], complete=True))
    assert woken == ["dispatcher"]  # stored messages alone make no delivery due
