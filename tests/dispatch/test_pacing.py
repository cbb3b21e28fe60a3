"""Pacing: channels keep to their rate, and one busy conversation cannot starve the others."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pytest import MonkeyPatch
from sqlmodel import Session, col, select

import gateway.outbound.dispatcher as dispatch_module
from channels import SendError
from gateway.background import DISPATCHER, Options
from gateway.backoff import next_delivery_attempt, webhook_delay
from gateway.clock import now
from gateway.outbound.claim import Due, find_due, releaser
from gateway.outbound.pacing import Pacer, TokenBucket
from gateway.store.models import DeliveryRow
from tests.dispatch.harness import Running, fake_channel, fixed_jitter, running
from tests.support.clock import ManualClock
from tests.support.config import TOKEN, Agent
from tests.support.databases import fresh_postgres
from tests.support.polling import eventually


def test_a_bucket_allows_its_rate_and_no_more() -> None:
    clock = ManualClock(100.0)
    bucket = TokenBucket(2.0, clock=clock.clock, sleep=clock.sleep)
    assert bucket.wait_time() == 0
    bucket._tokens -= 1  # one send taken
    assert bucket.wait_time() == 0.5
    clock.advance(0.25)
    assert bucket.wait_time() == 0.25
    clock.advance(10)
    assert bucket.wait_time() == 0  # idle time does not bank more than one burst
    bucket._tokens -= 1
    assert bucket.wait_time() == 0.5


def test_a_slow_channel_keeps_few_sends_claimed_and_unpaced_ones_none() -> None:
    pacer = Pacer({"sms": 1.0, "fb": 20.0, "chat": None})
    assert pacer.in_flight_limit("sms") == 1
    assert pacer.in_flight_limit("fb") == 20
    assert pacer.in_flight_limit("chat") is None and not pacer.paced("chat")


class Slots:
    """A shared slot book that answers the waits it is given, or fails like a database away."""

    def __init__(self, waits: list[float], down: bool = False) -> None:
        self.waits = waits
        self.down = down
        self.asked: list[tuple[str, float]] = []

    async def reserve(self, channel_id: str, interval: float) -> float:
        self.asked.append((channel_id, interval))
        if self.down:
            raise ConnectionError("the database is away")
        return self.waits.pop(0)


async def test_nodes_sharing_a_database_wait_for_the_slot_it_gives() -> None:
    clock = ManualClock(100.0)
    slots = Slots([0.0, 0.75])
    pacer = Pacer({"sms": 4.0, "chat": None}, clock.clock, clock.sleep, shared=slots)
    await pacer.acquire("chat")  # unpaced: no slot taken
    await pacer.acquire("sms")
    second = asyncio.create_task(pacer.acquire("sms"))
    await eventually(lambda: clock.sleeping == 1)
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert not second.done()  # the slot the database gave is 0.75 s away
    clock.advance(0.25)
    await second
    assert slots.asked == [("sms", 0.25), ("sms", 0.25)]


async def test_a_node_keeps_its_own_pace_while_the_database_is_away() -> None:
    clock = ManualClock(100.0)
    pacer = Pacer({"sms": 2.0}, clock.clock, clock.sleep, shared=Slots([], down=True))
    await pacer.acquire("sms")
    second = asyncio.create_task(pacer.acquire("sms"))
    await eventually(lambda: clock.sleeping == 1)
    clock.advance(0.5)
    await second


def test_delivery_retries_follow_the_delays_and_retry_after() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    exact = lambda low, high: 1.0  # noqa: E731
    delays = [1, 5, 30]
    waits = [next_delivery_attempt(start, n, delays, uniform=exact) for n in (1, 2, 3, 4)]
    assert waits[:3] == [start + timedelta(seconds=s) for s in delays]
    assert waits[3] is None
    later = next_delivery_attempt(start, 1, delays, retry_after=120, uniform=exact)
    assert later == start + timedelta(seconds=120)
    early = next_delivery_attempt(start, 1, delays, uniform=lambda low, high: low)
    assert early == start + timedelta(seconds=0.8)


def test_webhook_retries_slow_down_to_hourly() -> None:
    exact = lambda low, high: 1.0  # noqa: E731
    assert [webhook_delay(n, uniform=exact) for n in range(1, 9)] == [
        1,
        5,
        30,
        120,
        600,
        1800,
        3600,
        3600,
    ]


async def test_a_bulk_send_to_one_conversation_does_not_hold_up_a_reply(tmp_path: Path) -> None:
    channel = fake_channel("sms", rate=20)
    async with running(tmp_path / "db.sqlite", channel, workers=1) as run:
        script = run.script()
        script.gate = asyncio.Event()  # the provider is slow: the queue builds up
        bulk = [await run.queue("+15550001000", f"newsletter {i}") for i in range(50)]
        reply = await run.queue("+15550002000", "the answer to your question")
        script.gate.set()
        await eventually(lambda: any(p.message_id == reply for p in script.sent), 30)
        order = [p.message_id for p in script.sent]
        assert order.index(reply) == 1  # right after the newsletter that was in flight
        assert [m for m in order if m != reply] == bulk[: len(order) - 1]


AGENT_PASSWORD = "correct horse battery"


@asynccontextmanager
async def sms_waiting_for_its_pace(
    tmp_path: Path, queued: int, text: str, database_url: str | None = None
) -> AsyncIterator[tuple[Running, ManualClock]]:
    """SMS paced at one a second on a clock that stands still, and web chat unpaced; `queued`
    SMS to as many people, the first sent and the second waiting for its token. The agent
    `alice` may log in to the inbox page with AGENT_PASSWORD."""
    clock = ManualClock()
    options = Options(
        uniform=fixed_jitter, sweep_seconds=0.2, pacing_clock=clock.clock, pacing_sleep=clock.sleep
    )
    channels = [fake_channel("sms", rate=1), fake_channel("chat")]
    agent = Agent.with_password("alice", AGENT_PASSWORD).toml()
    async with running(
        tmp_path / "db.sqlite",
        channels,
        workers=4,
        extra=agent,
        options=options,
        tokens={"crm": TOKEN},
        database_url=database_url,
    ) as run:
        sms, chat = run.script("sms"), run.script("chat")
        sms.clock = chat.clock = clock.clock
        for i in range(queued):
            await run.queue(f"+1555000{i:04d}", text)
        await eventually(lambda: sms.sent)
        await eventually(lambda: clock.sleeping)  # the second SMS waits for its token
        yield run, clock


async def test_a_paced_channel_does_not_hold_up_an_unpaced_one(tmp_path: Path) -> None:
    """While SMS sends wait for their one-a-second tokens, a web chat send goes out at once."""
    async with sms_waiting_for_its_pace(tmp_path, 3, "slow") as (run, clock):
        start = clock.now
        sms, chat = run.script("sms"), run.script("chat")
        await run.queue("visitor-1", "fast", channel_id="chat")
        await eventually(lambda: chat.sent)
        # the clock stood still: the chat send waited for no SMS token
        assert chat.times == [start]
        assert sms.times == [start]
        for second in (1, 2):
            clock.advance(1)
            await eventually(lambda n=second: len(sms.sent) == n + 1)
        assert sms.times == [start, start + 1, start + 2]


async def test_a_paced_channels_long_queue_does_not_hold_up_another_channel(tmp_path: Path) -> None:
    """A campaign waiting for an SMS number's pace, longer than one look for due deliveries
    takes in (4 * workers + 16 = 32), leaves room in the look for a web chat reply accepted
    after it."""
    async with sms_waiting_for_its_pace(tmp_path, 40, "spring sale") as (run, _):
        await run.queue("visitor-1", "your answer", channel_id="chat")
        await eventually(lambda: run.script("chat").sent)
        assert len(run.script("sms").sent) == 1  # the clock stood still: the queue is there


async def test_sends_held_back_by_their_pace_are_not_looked_for_again_at_every_round(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """The dispatcher runs a round after every commit and every provider's answer. While
    what the last look found waits for its channel's pace, a round takes from it and does
    not read the whole due queue again, until it is a quarter of a second old."""
    async with sms_waiting_for_its_pace(tmp_path, 10, "spring sale") as (run, _):
        dispatcher = await run.dispatcher_by_hand()
        looks: list[datetime] = []

        def counted(session: Session, now: datetime, limit: int) -> Due:
            looks.append(now)
            return find_due(session, now, limit)

        monkeypatch.setattr(dispatch_module, "find_due", counted)
        await dispatcher._claim_round()  # the loop's last look may be stale by now
        for _ in range(20):
            await dispatcher._claim_round()
        assert len(looks) <= 2
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_a_reply_sent_through_the_api_does_not_wait_for_the_next_look(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """While what the last look found waits for its channel's pace, the next look comes only
    when that is stale (a quarter of a second; seconds, with a long queue, when looks are
    dear). A reply the API accepts meanwhile is taken without a look."""
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        await reply_through_the_api(run, "visitor-1")
        sent = await eventually(lambda: run.script("chat").sent)
        assert [part.recipient for part in sent] == ["visitor-1"]
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_a_retry_does_not_wait_for_the_next_look(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """While what the last look found waits for its channel's pace, a reply the provider
    refused for now is tried again as its retry falls due, not at the next look."""
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        chat = run.script("chat")
        chat.errors.append(SendError("provider busy", code="HTTP_503", retryable=True))
        await reply_through_the_api(run, "visitor-1")
        sent = await eventually(lambda: chat.sent)
        assert [part.recipient for part in sent] == ["visitor-1"]
        assert len(chat.calls) == 2  # refused, then sent when its retry fell due (0.2 s)
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_an_agents_reply_from_the_inbox_page_does_not_wait_for_the_next_look(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """While what the last look found waits for its channel's pace, a reply an agent sends
    from the inbox page goes out at once, as one sent through the API does."""
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        conversation_id = await run.conversation("visitor-1", channel_id="chat")
        page = {"X-Requested-With": "inbox"}
        login = {"username": "alice", "password": AGENT_PASSWORD}
        reply = {"message": {"content": {"basic": {"items": [{"text": "your answer"}]}}}}
        jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of an address, not a name
        async with aiohttp.ClientSession(run.url, headers=page, cookie_jar=jar) as agent:
            async with agent.post("/inbox/api/login", json=login) as response:
                assert response.status == 200, await response.text()
            path = f"/inbox/api/conversations/{conversation_id}/messages"
            async with agent.post(path, json=reply) as response:
                assert response.status == 200, await response.text()
        sent = await eventually(lambda: run.script("chat").sent)
        assert [part.recipient for part in sent] == ["visitor-1"]
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_a_second_reply_to_one_person_does_not_wait_for_the_next_look(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """While what the last look found waits for its channel's pace, two replies sent to one
    visitor in a row both go out, in their order, with no look: the second heads the
    visitor's queue once the first is sent."""
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        chat = run.script("chat")
        chat.gate = asyncio.Event()  # the first reply is with the provider a while
        await reply_through_the_api(run, "visitor-1")
        await eventually(lambda: chat.calls)
        await reply_through_the_api(run, "visitor-1", "and one more thing")
        await asyncio.sleep(0.2)  # (its claim finds the first in flight)
        chat.gate.set()
        await eventually(lambda: len(chat.sent) == 2)
        assert [part.recipient for part in chat.sent] == ["visitor-1", "visitor-1"]
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_a_paced_queue_is_not_read_again_while_what_was_found_waits(
    database_url: str, tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """The dispatcher is handed every send its node queues (and, on PostgreSQL, told of
    other nodes'): while what a look found waits for its channel's pace, looking again
    would find the same, so no look is made (with 100,000 queued, each look reads them
    all). Its own node's sends do not count as another's."""
    async with campaign_held_back(tmp_path, monkeypatch, counted_looks, database_url) as (
        run,
        looks,
    ):
        await asyncio.sleep(1.5)  # six times what a look found was kept for before
        await reply_through_the_api(run, "visitor-1")  # a wake-up and a send, handed over
        await eventually(lambda: run.script("chat").sent)
        await asyncio.sleep(0.5)
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


@pytest.mark.parametrize("batched", [True, False], ids=["sendMessage", "inbox page"])
async def test_a_send_another_node_queues_is_looked_for_at_once(
    tmp_path: Path, monkeypatch: MonkeyPatch, postgres_url: str, batched: bool
) -> None:
    """While what a look found waits for its pace, a send queued through another node on
    the same PostgreSQL database (not handed to this node's dispatcher) is told of by the
    database: this node looks for it at once instead of when what it found goes stale."""
    with fresh_postgres(postgres_url) as url:
        async with campaign_held_back(tmp_path, monkeypatch, database_url=url) as (run, looks):
            await run.queue_through_another_node(
                "visitor-1", "from node b", channel_id="chat", batched=batched
            )
            sent = await eventually(lambda: run.script("chat").sent)
            assert [part.recipient for part in sent] == ["visitor-1"]
            assert len(looks) == 1


async def test_a_send_another_node_lets_go_of_is_looked_for_at_once(
    tmp_path: Path, monkeypatch: MonkeyPatch, postgres_url: str
) -> None:
    """A node stopping lets go of the sends it claimed ahead of its workers: another node's
    dispatcher, its own look's findings waiting for their pace, is told and sends them."""
    with fresh_postgres(postgres_url) as url:
        async with campaign_held_back(tmp_path, monkeypatch, database_url=url) as (run, looks):
            store = run.storing("visitor-1", "claimed by node b", channel_id="chat")

            def store_claimed(session: Session) -> str:
                message_id = store(session)
                session.flush()
                claim = session.get_one(DeliveryRow, message_id)
                claim.claimed_until = now() + timedelta(minutes=1)
                return message_id

            message_id = await run.write_as_another_node(store_claimed)
            await asyncio.sleep(0.5)
            assert run.script("chat").sent == []  # node b's claim holds
            await run.write_as_another_node(releaser([message_id]))
            sent = await eventually(lambda: run.script("chat").sent)
            assert [part.message_id for part in sent] == [message_id]
            assert len(looks) == 2  # when node b queued it (it found it claimed) and let go


@pytest.mark.parametrize("left", ["refused", "unanswered"])
async def test_a_send_another_node_left_as_it_stopped_is_sent_when_due(
    tmp_path: Path, monkeypatch: MonkeyPatch, postgres_url: str, left: str
) -> None:
    """Node b stops leaving a reply to be sent later: its provider refused it for now (its
    retry timed), or had not answered it when the stop's grace ended (tried again once its
    claim's lease ends). This node, whose last look was before that and which looks again
    only when told while what it found waits for its pace, is told by node b's stop, and
    sends the reply when it falls due."""
    options = Options(
        uniform=fixed_jitter,
        sweep_seconds=0.2,
        lease=timedelta(seconds=4),
        send_timeout=3.0,
    )
    with fresh_postgres(postgres_url) as url:
        async with campaign_held_back(tmp_path, monkeypatch, database_url=url) as (run, _):
            dispatcher, feed = run.app[DISPATCHER], run.gateway.feed
            # this node hears nothing while node b queues and sends (else it might look, and
            # send the reply first); node b sends unpaced what of the campaign it finds
            feed.queued_elsewhere.remove(dispatcher.look_again)
            async with running(
                tmp_path / "b.sqlite",
                [fake_channel("sms"), fake_channel("chat")],
                delays=(4.0,),
                database_url=url,
                options=options,
                shutdown_grace=1.0,
            ) as node_b:
                chat = node_b.script("chat")
                message_id = await node_b.leave_a_reply(left, "visitor-1", "from node b")
                # node b stops with no other claim: letting a claim go would tell this node
                await eventually(lambda: campaign_all_claimed(run))
                await eventually(lambda: set(node_b.app[DISPATCHER]._jobs) <= {message_id})
                feed.queued_elsewhere.append(dispatcher.look_again)
            assert run.script("chat").calls == []
            sent = await eventually(lambda: run.script("chat").sent)
            assert [part.message_id for part in sent] == [message_id]
            assert (len(chat.calls), chat.sent) == (1, [])  # this node sent it


async def campaign_all_claimed(run: Running) -> bool:
    """Whether every SMS of the campaign left to send is claimed (by this node)."""

    def unclaimed(session: Session) -> int:
        rows = session.exec(
            select(DeliveryRow).where(
                DeliveryRow.channel_id == "sms",
                DeliveryRow.status == "PENDING",
                col(DeliveryRow.claimed_until).is_(None),
            )
        )
        return len(list(rows))

    return await run.read(unclaimed) == 0


@asynccontextmanager
async def campaign_held_back(
    tmp_path: Path,
    monkeypatch: MonkeyPatch,
    looks_from_now: Callable[[MonkeyPatch], list[datetime]] | None = None,
    database_url: str | None = None,
) -> AsyncIterator[tuple[Running, list[datetime]]]:
    """Ten SMS found by a look and held back by their pace (one a second, on a clock that
    stands still), and the looks made from then on (by default with what was found kept
    fresh for a minute: see `no_look_for_a_minute`)."""
    async with sms_waiting_for_its_pace(tmp_path, 10, "spring sale", database_url) as (run, _):
        dispatcher = run.app[DISPATCHER]
        await eventually(lambda: dispatcher._ahead)
        yield run, (looks_from_now or no_look_for_a_minute)(monkeypatch)


def no_look_for_a_minute(monkeypatch: MonkeyPatch) -> list[datetime]:
    """Keep what the last look found fresh for a minute, so that no round looks again for
    its sake; answers the looks made from now on, which the test expects none of."""
    monkeypatch.setattr(dispatch_module, "AHEAD_SECONDS", 60.0)
    monkeypatch.setattr(dispatch_module, "TOLD_KEEP_SECONDS", 60.0)
    return counted_looks(monkeypatch)


def counted_looks(monkeypatch: MonkeyPatch) -> list[datetime]:
    """The looks for due deliveries made from now on."""
    looks: list[datetime] = []

    def counted(session: Session, now: datetime, limit: int) -> Due:
        looks.append(now)
        return find_due(session, now, limit)

    monkeypatch.setattr(dispatch_module, "find_due", counted)
    return looks


async def test_a_reply_sent_through_the_api_does_not_wait_for_a_look_under_way(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """With a long queue, a look for due deliveries takes most of a second. A reply the API
    accepts while one runs goes out before it ends."""
    async with sms_waiting_for_its_pace(tmp_path, 10, "spring sale") as (run, _):
        dispatcher = run.app[DISPATCHER]
        looking, go_on = threading.Event(), threading.Event()

        def slow(session: Session, now: datetime, limit: int) -> Due:
            looking.set()
            go_on.wait(30)
            return find_due(session, now, limit)

        monkeypatch.setattr(dispatch_module, "find_due", slow)
        try:
            dispatcher._looked_at = 0.0  # what was found is stale: the next round looks
            dispatcher.wake()
            await eventually(looking.is_set)
            await reply_through_the_api(run, "visitor-1")
            sent = await eventually(lambda: run.script("chat").sent)
            assert [part.recipient for part in sent] == ["visitor-1"]
            assert not go_on.is_set()  # the look is still under way
        finally:
            go_on.set()
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def reply_through_the_api(run: Running, visitor: str, text: str = "your answer") -> None:
    """An agent's reply to the web chat visitor, through sendMessage."""
    body = {
        "conversationId": await run.conversation(visitor, channel_id="chat"),
        "message": {"content": {"basic": {"items": [{"text": text}]}}},
    }
    url, auth = f"{run.url}/inbox/v2/messages", run.live.auth
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=auth) as r:
        assert r.status == 200, await r.text()


async def test_a_reply_handed_over_while_found_sends_fill_the_workers_is_not_dropped(
    tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """While what the last look found waits for its channel's pace, a round whose free
    places all go to sends found before it (web chat replies ahead of the campaign) keeps
    the reply the API just handed over for a later round, which sends it without a look."""
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        dispatcher = await run.dispatcher_by_hand()
        chat = run.script("chat")
        campaign = len(dispatcher._sending)  # the SMS waiting for its token
        # more than a round has free places for: the workers and as many claimed ahead
        many = 3 * dispatcher.slots
        for n in range(many):
            await run.queue(f"visitor-{n}", "found before", channel_id="chat")
        found, dispatcher._queued = dispatcher._queued, []
        dispatcher._ahead = [*found, *dispatcher._ahead]
        await reply_through_the_api(run, "visitor-late")
        for _ in range(20):
            await dispatcher._claim_round()
            await eventually(lambda: len(dispatcher._sending) == campaign)
            if len(chat.sent) > many:
                break
        assert [part.recipient for part in chat.sent][-1] == "visitor-late"
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still


async def test_a_reply_let_go_after_waiting_for_a_worker_is_claimed_again_without_a_look(
    tmp_path: Path, monkeypatch: MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While what the last look found waits for its channel's pace, a reply claimed ahead of
    a worker that waited too long for one lets its claim go and is taken again as a worker
    frees, not left for the next look."""
    caplog.set_level(logging.INFO, logger="gateway.outbound.dispatcher")
    async with campaign_held_back(tmp_path, monkeypatch) as (run, looks):
        dispatcher = run.app[DISPATCHER]
        dispatcher._longest_wait = 0.2  # (15 s with the default lease)
        chat = run.script("chat")
        chat.gate = asyncio.Event()  # the provider holds every reply until released
        visitors = [f"visitor-{n}" for n in range(dispatcher.slots + 1)]
        for visitor in visitors:
            await reply_through_the_api(run, visitor)
        await eventually(lambda: "waited too long for a free worker" in caplog.text)
        chat.gate.set()
        await eventually(lambda: len(chat.sent) == len(visitors))
        assert sorted(part.recipient for part in chat.sent) == visitors
        assert looks == []
        assert len(run.script("sms").sent) == 1  # the clock stood still
