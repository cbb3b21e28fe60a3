"""The dispatcher's workers, and the due deliveries it claims ahead of a free one."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from gateway.background import Options
from gateway.clock import now
from gateway.outbound.claim import Candidate, claimer, find_due
from gateway.store.models import DeliveryRow
from tests.dispatch.harness import fixed_jitter, running
from tests.support.polling import eventually


async def test_no_more_sends_are_in_the_providers_hands_than_there_are_workers(
    tmp_path: Path,
) -> None:
    async with running(tmp_path / "db.sqlite", workers=2) as run:
        script = run.script()
        script.gate = asyncio.Event()  # the provider holds every send until released
        ids = [await run.queue(f"+1555000{n:04d}", f"message {n}") for n in range(6)]
        await eventually(lambda: len(script.calls) == 2)
        # deliveries claimed ahead wait for a worker; they do not go out beside the two
        await asyncio.sleep(0.5)
        assert len(script.calls) == 2
        script.gate.set()
        await eventually(lambda: len(script.sent) == 6)
        assert Counter(p.message_id for p in script.sent) == Counter(ids)


async def test_a_delivery_claimed_ahead_lets_go_of_its_claim_before_the_lease_could_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its send must end within the lease: one that waited long for a worker is let go (for
    another round, or another node, to claim afresh) instead of being sent on a stale claim."""
    # a claim ahead may wait (6 s lease - 4 s send timeout) / 2 = 1 s for a worker
    options = Options(
        uniform=fixed_jitter, sweep_seconds=0.2, lease=timedelta(seconds=6), send_timeout=4.0
    )
    caplog.set_level(logging.INFO, logger="gateway.outbound.dispatcher")
    async with running(tmp_path / "db.sqlite", workers=1, options=options) as run:
        script = run.script()
        script.gate = asyncio.Event()
        first = await run.queue("+15550001000", "first")
        await eventually(lambda: len(script.calls) == 1)
        second = await run.queue("+15550002000", "second")

        async def claimed() -> bool:
            return (await run.delivery(second)).claimed_until is not None

        # the one worker is busy, yet the second delivery is claimed, ready for it
        await eventually(claimed)
        await eventually(lambda: f"message {second} waited too long" in caplog.text)
        script.gate.set()
        await eventually(lambda: len(script.sent) == 2)
        assert [p.message_id for p in script.sent] == [first, second]
        assert len(script.calls) == 2  # each went to the provider once


async def test_messages_to_one_person_go_out_one_at_a_time_even_with_places_to_claim_ahead(
    tmp_path: Path,
) -> None:
    """With free workers and room to claim ahead, a person's later messages (written before
    or while the first is with the provider) still wait for it, and go out in order."""
    async with running(tmp_path / "db.sqlite", workers=8) as run:
        script = run.script()
        script.gate = asyncio.Event()
        ids = [await run.queue("+15550001000", f"m{n}") for n in range(6)]
        await eventually(lambda: len(script.calls) == 1)
        ids += [await run.queue("+15550001000", f"m{n}") for n in range(6, 8)]
        await asyncio.sleep(0.5)
        assert len(script.calls) == 1, "one message to a person with the provider at a time"
        script.gate.set()
        await eventually(lambda: len(script.sent) == 8)
        assert [p.message_id for p in script.sent] == ids


async def test_a_persons_messages_go_out_in_the_conversations_order_whatever_their_stamps(
    tmp_path: Path,
) -> None:
    """Each node stamps a send due at the time it accepted it, by its own clock, while the
    conversation numbers sends in the order they were committed: two nodes accepting sends
    to one person at the same moment (or with clocks a little apart) stamp them out of that
    order. The person gets them in the order the inbox shows."""
    async with running(tmp_path / "db.sqlite", workers=8) as run:
        script = run.script()
        script.gate = asyncio.Event()
        first = await run.queue("+15550001000", "first")
        await eventually(lambda: len(script.calls) == 1)
        later = [await run.queue("+15550001000", f"m{n}") for n in range(3)]
        await run.stamp_due_backwards(later)
        script.gate.set()
        await eventually(lambda: len(script.sent) == 4)
        assert [p.message_id for p in script.sent] == [first, *later]


async def test_a_look_names_each_persons_first_due_message_and_no_one_with_a_send_in_flight(
    tmp_path: Path, database_url: str
) -> None:
    """A look for due deliveries names the head of each person's queue, in the order of
    their conversation whatever the due times say: not a message of theirs behind another
    one due, nor anything of a person who has one in flight. A message waiting for its
    retry holds up no one."""
    async with running(tmp_path / "db.sqlite", database_url=database_url) as run:
        await run.dispatcher_by_hand()
        many = [await run.queue("+15550001000", f"m{n}") for n in range(3)]
        await run.stamp_due_backwards(many)  # the last one is due first
        alone = await run.queue("+15550002000", "alone")
        in_flight = await run.queue("+15550003000", "a")
        await run.queue("+15550003000", "b")  # (behind the one in flight)
        retrying, after_it = [await run.queue("+15550004000", t) for t in ("a", "b")]
        await run.retry_at(retrying, now() + timedelta(minutes=5))

        def claim(session: Session) -> None:
            row = session.get(DeliveryRow, in_flight)
            assert row is not None
            row.claimed_until = now() + timedelta(minutes=1)
            session.add(row)

        await run.gateway.db.write(claim)
        due = await run.read(lambda session: find_due(session, now(), limit=10))
        assert sorted(c.message_id for c in due.candidates) == sorted([many[0], alone, after_it])


async def test_a_claim_takes_a_persons_message_only_at_the_head_of_their_queue_and_alone(
    tmp_path: Path,
) -> None:
    """Whatever a look named a moment ago (here or on another node), a claim takes a person's
    message only when no earlier one of theirs is due and nothing of theirs is in flight: the
    person gets one message at a time, in the conversation's order."""
    async with running(tmp_path / "db.sqlite") as run:
        dispatcher = await run.dispatcher_by_hand()
        earlier = await run.queue("+15550001000", "earlier")
        later = await run.queue("+15550001000", "later")
        gw = run.gateway

        async def claim(message_id: str, at: datetime) -> list[str]:
            write = claimer([message_id], at, dispatcher.lease, gw.directory, postgres=False)
            return [job.message_id for job in await gw.db.write(write)]

        assert await claim(later, now()) == []  # the earlier one is due: it goes first
        # the earlier one waits for a retry, which holds up no one: the later one goes
        retry_at = now() + timedelta(seconds=5)
        await run.retry_at(earlier, retry_at)
        assert await claim(later, now()) == [later]
        # the retry falls due while the later one is still with the provider: it waits
        assert await claim(earlier, retry_at + timedelta(seconds=1)) == []
        assert (await run.delivery(earlier)).claimed_until is None


async def test_an_earlier_message_stamped_by_a_clock_ahead_still_goes_first(
    tmp_path: Path, database_url: str
) -> None:
    """A node whose clock is ahead stamps a message due later than this node stamps the
    person's next one, accepted a moment after: neither a look nor a claim takes the later
    one while the earlier, never tried, waits for its stamp."""
    async with running(tmp_path / "db.sqlite", database_url=database_url) as run:
        dispatcher = await run.dispatcher_by_hand()
        earlier = await run.queue("+15550001000", "earlier")
        later = await run.queue("+15550001000", "later")
        ahead = now() + timedelta(seconds=2)
        await run.stamp_due_at({earlier: ahead})
        gw = run.gateway
        postgres = not gw.db.sqlite

        async def claim(message_id: str, at: datetime) -> list[str]:
            write = claimer([message_id], at, dispatcher.lease, gw.directory, postgres=postgres)
            return [job.message_id for job in await gw.db.write(write)]

        due = await run.read(lambda session: find_due(session, now(), limit=10))
        assert later not in [c.message_id for c in due.candidates]
        assert await claim(later, now()) == []
        # at its stamp the earlier one goes first
        assert await claim(earlier, ahead + timedelta(seconds=1)) == [earlier]


async def test_a_send_found_ahead_gives_way_to_an_earlier_one_that_fell_due_since(
    tmp_path: Path,
) -> None:
    """The dispatcher keeps what a look found for a quarter of a second, to fill places as
    sends finish. When a person's later message is among it and a new look of the same
    round names an earlier one of theirs instead, only the earlier one is taken: never two
    of a person's messages with the provider at once."""
    async with running(tmp_path / "db.sqlite", workers=1) as run:
        dispatcher = await run.dispatcher_by_hand()
        earlier = await run.queue("+15550001000", "earlier")
        later = await run.queue("+15550001000", "later")
        # the last look, a moment ago, found the later one heading the person's queue
        dispatcher._ahead = [Candidate(later, "sms")]
        dispatcher._looked_at = asyncio.get_running_loop().time()
        await dispatcher._claim_round()
        claimed = [m for m in (earlier, later) if (await run.delivery(m)).claimed_until]
        assert claimed == [earlier]


async def test_what_was_found_ahead_is_looked_at_again_once_a_retry_falls_due(
    tmp_path: Path,
) -> None:
    """As above, with the one free place filled from what was found ahead, so that the round
    needs no look: the retry's time having come (the last look said when), the round looks
    again, and the person's earlier message goes first."""
    async with running(tmp_path / "db.sqlite", workers=1) as run:
        dispatcher = await run.dispatcher_by_hand()
        script = run.script()
        script.gate = asyncio.Event()
        other = await run.queue("+15550002000", "to someone else")
        await dispatcher._claim_round()
        await eventually(lambda: len(script.calls) == 1)  # one place taken, one free
        earlier = await run.queue("+15550001000", "earlier")
        later = await run.queue("+15550001000", "later")
        dispatcher._ahead = [Candidate(later, "sms")]
        dispatcher._looked_at = asyncio.get_running_loop().time()
        dispatcher._next_due = now() - timedelta(milliseconds=1)  # the earlier one's retry
        await dispatcher._claim_round()
        claimed = [m for m in (earlier, later) if (await run.delivery(m)).claimed_until]
        assert claimed == [earlier]
        script.gate.set()
        await eventually(lambda: [p.message_id for p in script.sent] == [other, earlier])
