"""The live feed offers an event only to its conversation's followers and to every-event
listeners, so an event costs the same whatever the number of visitors connected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.events.feed import EventFeed, Listener
from gateway.events.outbox import Appended


def event(
    seq: int, conversation_id: str, slug: str = "message_sent_to_business", **body: Any
) -> Appended:
    return Appended(
        seq=seq,
        id=f"e{seq}",
        slug=slug,
        entity_fqdn="inbox.v2.message",
        entity_id="m",
        conversation_id=conversation_id,
        event_time=datetime.now(UTC),
        body=body,
    )


def merged(seq: int, target: str, *olds: str) -> Appended:
    return event(
        seq,
        target,
        "conversations_merged",
        oldConversationIds=list(olds),
        targetConversationId=target,
    )


@pytest.fixture
def feed(tmp_path: Path) -> EventFeed:
    from gateway.store.database import Database

    return EventFeed(Database(f"sqlite:///{tmp_path / 'feed.db'}"))


def drain(listener: Listener) -> list[int]:
    return [item.seq or 0 for item in listener.ready()]


def test_a_follower_is_offered_only_its_conversations_events(feed: EventFeed) -> None:
    ann, bob = feed.listen(), feed.listen()
    feed.follow(ann, "c-ann")
    feed.follow(bob, "c-bob")
    everything = feed.listen()
    feed.hand_out([event(1, "c-ann"), event(2, "c-bob"), event(3, "c-ann")])
    assert drain(ann) == [1, 3]
    assert drain(bob) == [2]
    assert drain(everything) == [1, 2, 3]


def test_a_listener_takes_every_event_until_it_follows_a_conversation(feed: EventFeed) -> None:
    visitor = feed.listen()
    feed.hand_out([event(1, "c-other")])
    feed.follow(visitor, "c-mine")
    feed.hand_out([event(2, "c-other"), event(3, "c-mine")])
    assert drain(visitor) == [1, 3]


def test_a_follower_of_a_conversation_merged_away_follows_the_target(feed: EventFeed) -> None:
    visitor = feed.listen()
    feed.follow(visitor, "c-old")
    feed.hand_out([merged(1, "c-new", "c-old"), event(2, "c-new")])
    assert drain(visitor) == [1, 2]
    assert visitor.conversations == {"c-old", "c-new"}


def test_a_listener_gone_is_forgotten_by_the_index(feed: EventFeed) -> None:
    visitor = feed.listen()
    feed.follow(visitor, "c-ann")
    feed.unlisten(visitor)
    feed.hand_out([event(1, "c-ann")])
    assert feed.followers == {}
