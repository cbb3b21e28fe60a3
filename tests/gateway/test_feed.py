"""The live feed hands every outbox event to listeners once, in order, even across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.events import feed as feed_module
from gateway.events.feed import EventFeed
from gateway.store.database import Database
from gateway.store.models import EventRow


def event(seq: int) -> EventRow:
    return EventRow(
        seq=seq,
        id=f"e{seq}",
        slug="message_sent_to_business",
        entity_fqdn="inbox.v2.message",
        entity_id="m",
        event_time=datetime.now(UTC),
        body={},
    )


@pytest.fixture
def feed(tmp_path: Path) -> EventFeed:
    return EventFeed(Database(f"sqlite:///{tmp_path / 'feed.db'}"))


def drain(listener: feed_module.Listener) -> list[int]:
    return [item.seq or 0 for item in listener.ready()]


def test_an_event_committed_late_by_another_node_is_still_handed_out(feed: EventFeed) -> None:
    listener = feed.listen()
    feed.hand_out([event(1), event(2), event(4)])  # 3 is still committing elsewhere
    assert drain(listener) == [1, 2, 4]
    assert feed.cursor == 2
    feed.hand_out([event(3), event(4)])
    assert drain(listener) == [3]  # 4 is not offered twice
    assert feed.cursor == 4


def test_a_hole_left_by_a_rolled_back_transaction_is_passed_after_a_while(
    feed: EventFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = feed.listen()
    feed.hand_out([event(1), event(3)])
    assert feed.cursor == 1
    monkeypatch.setattr(feed_module, "GAP_PATIENCE", -1.0)
    feed.hand_out([event(3), event(4)])
    assert drain(listener) == [1, 3, 4]
    assert feed.cursor == 4


def test_a_listener_sees_only_what_it_accepts(feed: EventFeed) -> None:
    odd = feed.listen(lambda e: (e.seq or 0) % 2 == 1)
    feed.hand_out([event(1), event(2), event(3)])
    assert drain(odd) == [1, 3]


def test_a_feed_nobody_listens_to_passes_events_and_a_later_listener_gets_only_new_ones(
    feed: EventFeed,
) -> None:
    feed.hand_out([event(1), event(3)])  # 2 still committing elsewhere
    feed.skip_to(4)  # nobody listened: the outbox ends at 4
    assert feed.cursor == 4
    listener = feed.listen()
    feed.hand_out([event(3), event(4), event(5)])
    assert drain(listener) == [5]  # nothing passed is offered late, nothing ahead is lost
    assert feed.cursor == 5


async def test_a_listener_that_arrives_while_the_outbox_end_is_read_gets_the_new_event(
    feed: EventFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A visitor's socket opens while the feed, with nobody listening, reads where the outbox
    # ends; a reply stored in that moment is read too, and must reach the socket.
    opened: list[feed_module.Listener] = []
    ends = iter([0, 1])  # at start, then after the reply was stored

    async def read(query: Callable[..., Any]) -> Any:
        if query is feed_module.newest_seq:
            end = next(ends)
            if end == 1:
                opened.append(feed.listen())
            return end
        return [event(1)]

    monkeypatch.setattr(feed.db, "read", read)
    await feed.start()
    try:
        feed.wake()
        while not opened:
            await asyncio.sleep(0.01)
        async with asyncio.timeout(5):
            handed = await anext(opened[0])
        assert handed is not None and handed.seq == 1
    finally:
        await feed.stop()


async def test_a_waiting_consumer_gets_each_event_in_order_and_stops_when_the_listener_closes(
    feed: EventFeed,
) -> None:
    listener = feed.listen()
    got: list[int] = []

    async def consume() -> None:
        async for item in listener:
            got.append(item.seq or 0)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)  # the consumer waits on an empty listener
    feed.hand_out([event(1), event(2)])
    await asyncio.sleep(0)
    feed.hand_out([event(3)])
    await asyncio.sleep(0)
    feed.unlisten(listener)
    async with asyncio.timeout(5):
        await consumer  # the close ends its `async for`, though it was waiting
    assert got == [1, 2, 3]


def test_a_listener_that_falls_behind_loses_only_its_own_oldest_events(
    feed: EventFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "LISTENER_BACKLOG", 3)
    slow, other = feed.listen(), feed.listen()
    feed.hand_out([event(1), event(2), event(3), event(4), event(5)])
    assert drain(slow) == [3, 4, 5]
    assert drain(other) == [3, 4, 5]
    feed.hand_out([event(6)])
    assert drain(slow) == [6]
