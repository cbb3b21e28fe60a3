"""Backlog: what a paced channel's queue costs the daemon while it sends at the pace, with a
small queue and a campaign's, on SQLite and (with INBOX_TEST_POSTGRES_URL) on PostgreSQL.

    python -m bench.backlog [--quick]

A campaign sent through a paced channel waits in the outbox: 100,000 texts on a number that
may send 20 a second take well over an hour. Meanwhile the daemon should cost about what it
costs with a short queue: sending at the pace, answering webhooks and the inbox. Two
databases are seeded alike through the API (an SMS customer and one reply, sent), then the
reply's rows are copied (`bench.bulk`) to other customers and made due again: 1,000 queued
on the small side, 100,000 on the large one, one each to as many customers. Each daemon
then runs alone with the SMS channel paced, and the share of a core it uses is measured for
a while after a warm-up (on PostgreSQL, with the server's: a look for due deliveries runs
there), with the sends the fake received meanwhile. (Target: large/small ≤ 1.5.)

Then, the queue still waiting, an agent answers a Messenger customer, one reply at a time at
random moments: the time from sendMessage until the Graph API fake has the reply, which a
campaign waiting for its pace on another channel should not lengthen (target: p99 under
100 ms, as a web chat reply's in `bench.webchat_scale`).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import delete, update

from bench import bulk, harness
from bench.api import Api
from bench.cli import options
from bench.fakes import psid
from bench.load import conversations_by_reference, message_delivery, post_all, wait_until
from bench.report import Below, Check, Figure, RatioAtMost, Report
from bench.signing import messenger_post, phone, reference_of
from bench.stats import CpuMeter, Latency, cpu_seconds_named
from gateway.store.database import create_db_engine

#: the SMS channel's pace while the queue is sent, messages a second
RATE = 20.0


@dataclass(frozen=True)
class Sizes:
    small: int
    large: int
    #: seconds of sending before the measure, and measured
    warm_up: float
    seconds: float
    #: Messenger replies sent meanwhile
    replies: int


# the small queue lasts the whole measure and the replies after it at the pace (43 s at 20 a
# second: 860)
DEFAULT = Sizes(1_000, 100_000, warm_up=3.0, seconds=20.0, replies=100)
QUICK = Sizes(300, 10_000, warm_up=1.0, seconds=3.0, replies=10)


@dataclass(frozen=True)
class Drain:
    """What a daemon did while it sent from its queue at the pace."""

    queued: int
    cpu: float
    sent_per_second: float
    #: seconds from each Messenger reply's sendMessage until the provider had it
    replies: list[float]
    errors: list[str]


@dataclass(frozen=True)
class Seeded:
    #: an SMS customer's conversation, with one reply sent
    sms: str
    #: a Messenger customer's, who wrote a moment ago
    messenger: str


async def seed(folder: Path, url: str, fakes: harness.Fakes, http: aiohttp.ClientSession) -> Seeded:
    """An SMS customer's conversation with one reply sent, and a Messenger customer's."""
    daemon = harness.daemon(folder, url, fakes, sms_rate_per_second=0)
    async with harness.running(daemon):
        api = Api(http, daemon.url)
        conversation_id = await api.create_conversation(await api.create_contact("sms", phone(0)))
        await api.send_text(conversation_id, "Our spring sale starts today")
        await post_all(http, daemon.url, [messenger_post(0, "q", [("q0", psid(0))]).request])

        async def sent() -> bool:
            return [message_delivery(m) for m in await api.messages(conversation_id)] == ["SENT"]

        await wait_until(sent)
        messenger = (await conversations_by_reference(api))["q0"]
    return Seeded(conversation_id, messenger)


def queue(url: str, conversation_id: str, queued: int) -> None:
    """Copy the conversation to `queued - 1` customers of their own, and make every reply
    due again: `queued` messages waiting, one for each customer."""
    engine = create_db_engine(url)
    try:
        bulk.add_conversations(engine, conversation_id, queued - 1, lambda n: phone(n + 1))
        now = datetime.now(UTC)
        with engine.begin() as db:
            db.execute(delete(bulk.table("delivery_parts")))
            db.execute(
                update(bulk.table("deliveries")).values(
                    status="PENDING",
                    parts_sent=0,
                    attempts=0,
                    provider_message_ids=None,
                    claimed_until=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
        bulk.analyze(engine)
    finally:
        engine.dispose()


async def messenger_replies(
    http: aiohttp.ClientSession,
    url: str,
    fakes: harness.Fakes,
    conversation_id: str,
    count: int,
    seconds: float,
) -> list[float]:
    """`count` replies to the Messenger customer, one at a time at random moments over about
    `seconds`: the seconds from each one's sendMessage until the Graph API fake had it."""
    api = Api(http, url)
    pick = random.Random(11)
    latencies = []
    seen, _ = await fakes.graph_sent(http)
    deadline = time.monotonic() + seconds
    for n in range(count):
        await asyncio.sleep(pick.uniform(0, 2 * seconds / count))
        if time.monotonic() > deadline:
            break  # (replies that wait long leave time for fewer)
        reference = f"r{n}"
        started = time.time()
        await api.send_text(conversation_id, f"Thanks for waiting [{reference}]")
        while True:
            total, messages = await fakes.graph_sent(http, seen)
            arrived = [m for m in messages if reference_of(m["text"]) == reference]
            if arrived:
                break
            await asyncio.sleep(0.005)
        seen = total
        latencies.append(arrived[0]["timestamp"] / 1000 - started)
    return latencies


async def drain(
    folder: Path,
    backend: str,
    queued: int,
    fakes: harness.Fakes,
    http: aiohttp.ClientSession,
    sizes: Sizes,
) -> Drain:
    """A daemon with `queued` messages waiting, sending them at the pace, measured."""
    here = folder / f"{backend}-{queued}"
    with harness.database(backend, here) as url:
        seeded = await seed(here, url, fakes, http)
        await asyncio.get_running_loop().run_in_executor(None, queue, url, seeded.sms, queued)
        daemon = harness.daemon(here, url, fakes, sms_rate_per_second=RATE)
        async with harness.running(daemon):
            assert daemon.process is not None
            await asyncio.sleep(sizes.warm_up)
            before = await fakes.sent_count(http)
            meter = CpuMeter(daemon.process.pid)
            server = cpu_seconds_named("postgres") if backend == "postgres" else 0.0
            meter.start()
            started = time.monotonic()
            await asyncio.sleep(sizes.seconds)
            cpu = meter.stop()
            if backend == "postgres":
                cpu += (cpu_seconds_named("postgres") - server) / meter.wall_seconds
            sent = (await fakes.sent_count(http) - before) / (time.monotonic() - started)
            # then, the queue still waiting, an agent answers a Messenger customer
            replies = await asyncio.wait_for(
                messenger_replies(
                    http, daemon.url, fakes, seeded.messenger, sizes.replies, sizes.seconds
                ),
                sizes.seconds + 60.0,
            )
        return Drain(queued, cpu, sent, replies, harness.error_lines(daemon.log))


async def one_round(
    backend: str, folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report
) -> None:
    db = harness.backend_name(backend)
    used = "share of a core, daemon and server" if backend == "postgres" else "share of a core"
    async with aiohttp.ClientSession() as http:
        small = await drain(folder, backend, sizes.small, fakes, http, sizes)
        large = await drain(folder, backend, sizes.large, fakes, http, sizes)
    baseline = f"{small.queued:,} queued"
    large_reply, small_reply = Latency.of_seconds(large.replies), Latency.of_seconds(small.replies)
    errors = small.errors + large.errors
    report.add(
        Figure(
            f"paced SMS, {large.queued:,} queued: {used}",
            db,
            large.cpu,
            small.cpu,
            baseline,
            RatioAtMost(1.5),
            3,
        ),
        Figure(
            f"paced SMS, {large.queued:,} queued: sent/s",
            db,
            large.sent_per_second,
            small.sent_per_second,
            baseline,
            None,
            1,
        ),
        Figure(
            f"paced SMS, {large.queued:,} queued: Messenger reply p99 ms",
            db,
            large_reply.p99_ms,
            small_reply.p99_ms,
            baseline,
            Below(100),
            1,
        ),
        Figure(
            f"paced SMS, {large.queued:,} queued: Messenger reply p50 ms",
            db,
            large_reply.p50_ms,
            small_reply.p50_ms,
            baseline,
            None,
            1,
        ),
        Check(
            "paced SMS, both queues sent at the pace while measured",
            db,
            f"{small.sent_per_second:.1f} and {large.sent_per_second:.1f} a second",
            min(small.sent_per_second, large.sent_per_second) >= 0.9 * RATE,
        ),
        Check("daemon log, ERROR lines", db, harness.errors_detail(errors), not errors),
    )
    report.note(
        f"{db}: Messenger replies timed over {sizes.seconds:g} s after the measure, "
        f"{len(large.replies)} with {large.queued:,} queued and {len(small.replies)} with "
        f"{small.queued:,} (slower replies leave time for fewer)"
    )


async def main() -> int:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    report = Report("Backlog", quick=args.quick)
    report.note(
        f"the SMS channel paced at {RATE:g} messages a second; after {sizes.warm_up:g} s of "
        f"sending, the share of a core used over {sizes.seconds:g} s, each daemon alone"
    )
    async with harness.fakes_in_workspace(customers=1) as (folder, fakes):
        for backend in harness.backends():
            await one_round(backend, folder, sizes, fakes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
