"""Size: what a page of the REST API costs when the tables are big, on SQLite and (with
INBOX_TEST_POSTGRES_URL) on PostgreSQL.

    python -m bench.size [--quick] [--only sqlite,postgres]

Two daemons run side by side, one on a small database (a conversation of 1,000 messages,
100 conversations) and one on a large one (1,000,000 messages, 100,000 conversations), and
the same pages are asked of both, in turns: the first page, a middle one and the last one of
`listMessages` and of `listConversations`, reached by walking the `next` cursors as a client
would. A page should cost the same whatever the table size (target: large/small ≤ 1.5).

A web chat visitor's read receipt is timed the same way: the receipt, then a message from the
same visitor, until that message's ack. Half of the conversations on each side are web chat
visitors with two replies delivered (50 and 50,000), so a receipt that read the channel's
deliveries rather than its own conversation's would cost more on the large side.

So is a Messenger delivery watermark: a signed webhook, timed until its 200 (answered after
the commit that applied it), for a person whose conversation holds 10,000 messages against one
of 30, every reply already DELIVERED, so that the watermark moves nothing and what it reads is
what it costs.

Each database is seeded through the gateway's public surface (signed webhooks, sendMessage,
status callbacks), then grown with copies of the rows it wrote (`bench.bulk`, direct SQL).
The growth of the database per message copied gives the bytes a message costs on disk.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from adapters.messenger.fake import delivery_event, message_event, page_body, signed_body
from bench import bulk, harness
from bench.api import Api
from bench.cli import options
from bench.fakes import psid
from bench.harness import APP_SECRET, PAGE_ID
from bench.load import conversations_by_reference, message_delivery, post_all, wait_until
from bench.report import Figure, RatioAtMost, Report
from bench.signing import StatusCallback, phone, sid, twilio_inbound, twilio_status
from bench.stats import Latency
from gateway.store.database import create_db_engine
from tests.support import Daemon

#: page sizes: the largest the API serves for messages, its default for conversations
MESSAGE_PAGE, CONVERSATION_PAGE = 100, 30


@dataclass(frozen=True)
class Sizes:
    small_messages: int
    large_messages: int
    small_conversations: int
    large_conversations: int
    #: the Messenger person's conversation, small and large
    small_person: int
    large_person: int
    #: timed requests per page and side
    rounds: int


DEFAULT = Sizes(1_000, 1_000_000, 100, 100_000, 30, 10_000, rounds=40)
# the last page of conversations holds 10 on both sides: 100 and 2,020 are 10 past a multiple of 30
QUICK = Sizes(1_000, 20_000, 100, 2_020, 30, 1_000, rounds=10)
#: the Messenger person of the watermark figure (the Graph fake knows PSID 0)
PERSON = psid(0)


@dataclass
class Side:
    """One daemon and its database, grown to a size."""

    daemon: Daemon
    conversation_id: str
    messages: int
    conversations: int
    #: the web chat visitor's session token, and the sequence of the last reply it received
    visitor_token: str = ""
    visitor_read: int = 0
    #: how many messages the Messenger person's conversation holds
    person_messages: int = 0
    bytes_per_message: float = 0.0
    fill_seconds: float = 0.0


# -- seeding and growing ---------------------------------------------------------------------


async def seed(
    daemon: Daemon, http: aiohttp.ClientSession, fakes: harness.Fakes
) -> tuple[str, str]:
    """Through the public surface: a conversation of customer texts, replies delivered and an
    internal note, and a second customer who texted once. Answers both conversations."""
    url, api, run = daemon.url, Api(http, daemon.url), random.randrange(16**8)
    customer, other = phone(1), phone(2)
    await post_all(http, url, [twilio_inbound(url, "s0", customer, sid(run, 0))])
    conversation_id = (await api.conversations())[0]["id"]
    before = await fakes.sent_count(http)
    for n in range(1, 5):
        await api.send_text(conversation_id, f"Your parcel {n} is on its way [t{n}]")
        await post_all(http, url, [twilio_inbound(url, f"s{n}", customer, sid(run, n))])
    note = {"basic": {"items": [{"text": "Regular customer, be nice [note]"}]}}
    body = {
        "conversationId": conversation_id,
        "message": {"content": note, "visibility": "BUSINESS"},
    }
    await api.post("/messages", body)

    async def sent() -> bool:
        return await fakes.sent_count(http) - before >= 4

    await wait_until(sent)
    callbacks = [
        twilio_status(url, StatusCallback(f"d{n}", m["sid"], "delivered"), m["to"])
        for n, m in enumerate(await fakes.sent(http, before))
    ]
    await post_all(http, url, callbacks)

    async def delivered() -> bool:
        statuses = [message_delivery(m) for m in await api.messages(conversation_id)]
        return statuses.count("DELIVERED") == 4

    await wait_until(delivered)
    await post_all(http, url, [twilio_inbound(url, "o0", other, sid(run, 100))])
    listed = [c["id"] for c in await api.conversations()]
    return conversation_id, next(c for c in listed if c != conversation_id)


async def visitor_socket(
    http: aiohttp.ClientSession, url: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(
        f"{url}/channels/chat/ws", params={"token": token}, headers={"Origin": harness.ORIGIN}
    )


async def say(ws: aiohttp.ClientWebSocketResponse, reference: str) -> None:
    """A visitor's message, once it is acknowledged."""
    frame = {
        "type": "message",
        "clientMessageId": reference,
        "content": {"basic": {"items": [{"text": f"Thanks! [{reference}]"}]}},
    }
    await ws.send_json(frame)
    while True:
        answer = await ws.receive_json(timeout=30)
        if answer.get("clientMessageId") == reference:
            if answer.get("type") != "ack":
                raise RuntimeError(f"the visitor's message was refused: {answer}")
            return


async def seed_visitor(daemon: Daemon, http: aiohttp.ClientSession) -> tuple[str, str, int]:
    """A web chat visitor who said hello and received two replies, both DELIVERED and not
    read. Answers the conversation, the visitor's token and the last reply's sequence."""
    url, api = daemon.url, Api(http, daemon.url)
    headers = {"Origin": harness.ORIGIN}
    async with http.post(f"{url}/channels/chat/sessions", json={}, headers=headers) as r:
        session = await r.json()
    token, conversation_id = session["token"], session["conversationId"]
    async with await visitor_socket(http, url, token) as ws:
        await say(ws, "hello")
        for n in range(2):
            await api.send_text(conversation_id, f"Happy to help, visitor [v{n}]")

        async def delivered() -> bool:
            statuses = [message_delivery(m) for m in await api.messages(conversation_id)]
            return statuses.count("DELIVERED") == 2

        await wait_until(delivered)
        last = max(int(m["sequence"]) for m in await api.messages(conversation_id))
    return conversation_id, token, last


async def messenger_event(http: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> float:
    """Post one signed Messenger webhook; answers the seconds until its 200."""
    raw, signature = signed_body(APP_SECRET, page_body([event], page_id=PAGE_ID))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    started = time.perf_counter()
    async with http.post(f"{url}/channels/fb/webhook", data=raw, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"the Messenger webhook answered {r.status}: {await r.text()}")
    return time.perf_counter() - started


def delivered_watermark() -> dict[str, Any]:
    """Meta's news that every message sent to the person was delivered. Its time is a day
    ahead, so that it covers the copied messages too: they are dated after the originals."""
    ahead = time.time() + 86_400
    return delivery_event(PERSON, None, int(ahead * 1000), page_id=PAGE_ID)


async def seed_person(daemon: Daemon, http: aiohttp.ClientSession) -> str:
    """A Messenger person who wrote and received two replies, both DELIVERED; answers the
    conversation."""
    url, api = daemon.url, Api(http, daemon.url)
    hello = message_event(PERSON, "Hello, is my order ready? [p0]", page_id=PAGE_ID)
    await messenger_event(http, url, hello)
    conversation_id = (await conversations_by_reference(api))["p0"]
    for n in range(2):
        await api.send_text(conversation_id, f"It is on its way [q{n}]")

    async def statuses() -> list[str | None]:
        return [message_delivery(m) for m in await api.messages(conversation_id)]

    async def sent() -> bool:
        return (await statuses()).count("SENT") == 2

    async def delivered() -> bool:
        return (await statuses()).count("DELIVERED") == 2

    await wait_until(sent)
    await messenger_event(http, url, delivered_watermark())
    await wait_until(delivered)
    return conversation_id


async def prepare(
    folder: Path,
    url: str,
    fakes: harness.Fakes,
    http: aiohttp.ClientSession,
    messages: int,
    conversations: int,
    person: int,
) -> Side:
    """A daemon (stopped) whose database at `url` holds a conversation of `messages` messages
    among `conversations` conversations, one of them a Messenger person's of `person`."""
    daemon = harness.daemon(folder, url, fakes, sms_rate_per_second=0)
    async with harness.running(daemon):
        conversation_id, other_id = await seed(daemon, http, fakes)
        visitor_id, token, last_reply = await seed_visitor(daemon, http)
        person_id = await seed_person(daemon, http)
    visitors = conversations // 2
    started = time.monotonic()
    engine = create_db_engine(url)
    loop = asyncio.get_running_loop()
    try:
        before = await loop.run_in_executor(None, bulk.database_bytes, engine)
        added = await loop.run_in_executor(
            None, bulk.grow_conversation, engine, conversation_id, messages
        )
        after = await loop.run_in_executor(None, bulk.database_bytes, engine)
        await loop.run_in_executor(
            None, bulk.add_conversations, engine, other_id, conversations - 4 - visitors
        )
        await loop.run_in_executor(None, bulk.grow_conversation, engine, person_id, person)
        await loop.run_in_executor(None, bulk.add_conversations, engine, visitor_id, visitors)
        await loop.run_in_executor(None, bulk.analyze, engine)
    finally:
        engine.dispose()
    side = Side(daemon, conversation_id, messages, conversations, token, last_reply, person)
    side.bytes_per_message = (after - before) / added if added else float("nan")
    side.fill_seconds = time.monotonic() - started
    return side


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    name: str
    path: str
    params: dict[str, str]


def listings(side: Side) -> list[Listing]:
    return [
        Listing(
            "listMessages",
            "/messages",
            {
                "conversationId": side.conversation_id,
                "visibility": "BUSINESS",
                "paging.limit": str(MESSAGE_PAGE),
                "sorting.order": "DESC",
            },
        ),
        Listing("listConversations", "/conversations", {"paging.limit": str(CONVERSATION_PAGE)}),
    ]


async def cursors(api: Api, listing: Listing) -> list[str | None]:
    """The cursor of every page of a listing (None for the first), walking `next`."""
    found: list[str | None] = [None]
    params = dict(listing.params)
    while True:
        page = await api.get(listing.path, params)
        cursor = page["pagingMetadata"].get("cursors", {}).get("next")
        if not cursor:
            return found
        found.append(cursor)
        params = {**listing.params, "paging.cursor": cursor}


async def timed(api: Api, listing: Listing, cursor: str | None) -> tuple[float, int]:
    """Seconds one page took (read whole), and how many items it held."""
    params = dict(listing.params)
    if cursor is not None:
        params["paging.cursor"] = cursor
    started = time.perf_counter()
    page = await api.get(listing.path, params)
    took = time.perf_counter() - started
    items = page.get("messages", page.get("conversations", []))
    return took, len(items)


async def compare(
    http: aiohttp.ClientSession, small: Side, large: Side, rounds: int, db: str
) -> tuple[list[Figure], list[str]]:
    figures, notes = [], []
    small_api, large_api = Api(http, small.daemon.url), Api(http, large.daemon.url)
    for small_listing, large_listing in zip(listings(small), listings(large), strict=True):
        started = time.monotonic()
        small_cursors = await cursors(small_api, small_listing)
        large_cursors = await cursors(large_api, large_listing)
        notes.append(
            f"{small_listing.name} on {db}: {len(small_cursors):,} and {len(large_cursors):,} "
            f"pages walked in {time.monotonic() - started:.0f} s"
        )
        for where, pick in (("first", 0.0), ("middle", 0.5), ("last", 1.0)):
            a_cursor = small_cursors[round((len(small_cursors) - 1) * pick)]
            b_cursor = large_cursors[round((len(large_cursors) - 1) * pick)]
            a_times: list[float] = []
            b_times: list[float] = []
            items: set[int] = set()
            await timed(small_api, small_listing, a_cursor)  # warm both once
            await timed(large_api, large_listing, b_cursor)
            for n in range(rounds):
                turns = [
                    (small_api, small_listing, a_cursor, a_times),
                    (large_api, large_listing, b_cursor, b_times),
                ]
                for api, listing, cursor, times in turns if n % 2 == 0 else turns[::-1]:
                    took, count = await timed(api, listing, cursor)
                    times.append(took)
                    items.add(count)
            a, b = Latency.of_seconds(a_times), Latency.of_seconds(b_times)
            what = (
                f"{large.messages:,} vs {small.messages:,} messages"
                if small_listing.name == "listMessages"
                else f"{large.conversations:,} vs {small.conversations:,} conversations"
            )
            figures.append(
                Figure(
                    f"{small_listing.name}, {where} page p50 ms, {what}",
                    db,
                    b.p50_ms,
                    a.p50_ms,
                    "small",
                    RatioAtMost(1.5),
                    2,
                )
            )
            if len(items) != 1:
                notes.append(f"{small_listing.name} {where} page: pages of {sorted(items)} items")
    return figures, notes


async def receipt(ws: aiohttp.ClientWebSocketResponse, side: Side, n: int) -> float:
    """Seconds from a visitor's read receipt until the message it sends next is acknowledged:
    the receipt is applied in the same group commit or an earlier one."""
    started = time.perf_counter()
    await ws.send_json({"type": "read", "sequence": str(side.visitor_read)})
    await say(ws, f"r{n}")
    return time.perf_counter() - started


async def in_turns(
    rounds: int, small: Callable[[int], Awaitable[float]], large: Callable[[int], Awaitable[float]]
) -> tuple[Latency, Latency]:
    """Each side timed `rounds` times, in turns (which goes first alternates), after one
    untimed warm-up each."""
    times: tuple[list[float], list[float]] = ([], [])
    await small(-1)
    await large(-1)
    for n in range(rounds):
        turns = [(small, times[0]), (large, times[1])]
        for timed_side, into in turns if n % 2 == 0 else turns[::-1]:
            into.append(await timed_side(n))
    return Latency.of_seconds(times[0]), Latency.of_seconds(times[1])


async def compare_receipts(
    http: aiohttp.ClientSession, small: Side, large: Side, rounds: int, db: str
) -> Figure:
    async with (
        await visitor_socket(http, small.daemon.url, small.visitor_token) as small_ws,
        await visitor_socket(http, large.daemon.url, large.visitor_token) as large_ws,
    ):
        a, b = await in_turns(
            rounds,
            lambda n: receipt(small_ws, small, n),
            lambda n: receipt(large_ws, large, n),
        )
    visitors = (large.conversations // 2, small.conversations // 2)
    return Figure(
        "web chat read receipt, then a message, until its ack, p50 ms, "
        f"{visitors[0]:,} vs {visitors[1]:,} visitors",
        db,
        b.p50_ms,
        a.p50_ms,
        "small",
        RatioAtMost(1.5),
        2,
    )


async def compare_watermarks(
    http: aiohttp.ClientSession, small: Side, large: Side, rounds: int, db: str
) -> Figure:
    a, b = await in_turns(
        rounds,
        lambda _: messenger_event(http, small.daemon.url, delivered_watermark()),
        lambda _: messenger_event(http, large.daemon.url, delivered_watermark()),
    )
    return Figure(
        "Messenger delivery watermark, until its 200, p50 ms, a person's conversation of "
        f"{large.person_messages:,} vs {small.person_messages:,} messages",
        db,
        b.p50_ms,
        a.p50_ms,
        "small",
        RatioAtMost(1.5),
        2,
    )


async def one_round(
    backend: str, folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report
) -> None:
    db = harness.backend_name(backend)
    here = folder / backend
    with (
        harness.database(backend, here / "small") as small_url,
        harness.database(backend, here / "large") as large_url,
    ):
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        async with http:
            small = await prepare(
                here / "small",
                small_url,
                fakes,
                http,
                sizes.small_messages,
                sizes.small_conversations,
                sizes.small_person,
            )
            large = await prepare(
                here / "large",
                large_url,
                fakes,
                http,
                sizes.large_messages,
                sizes.large_conversations,
                sizes.large_person,
            )
            async with harness.running(small.daemon), harness.running(large.daemon):
                figures, notes = await compare(http, small, large, sizes.rounds, db)
                figures.append(await compare_receipts(http, small, large, sizes.rounds, db))
                figures.append(await compare_watermarks(http, small, large, sizes.rounds, db))
    report.add(*figures)
    report.add(
        Figure(
            "database bytes per message (large conversation)",
            db,
            large.bytes_per_message,
            small.bytes_per_message,
            f"{small.messages:,}-message conversation",
        )
    )
    report.notes += notes
    report.note(
        f"{db}: the large database was filled in {large.fill_seconds:.0f} s; a message copied "
        "carries its delivery, parts and outbox events, as the gateway wrote them"
    )


async def main() -> int:
    args = options(__doc__ or "", parts=("sqlite", "postgres"))
    sizes = QUICK if args.quick else DEFAULT
    report = Report("Size", quick=args.quick)
    report.note(
        f"pages of {MESSAGE_PAGE} messages and of {CONVERSATION_PAGE} conversations; "
        f"{sizes.rounds} timed requests per page and database, in turns"
    )
    async with harness.fakes_in_workspace(customers=1) as (folder, fakes):
        for backend in harness.backends():
            if backend in args.only:
                await one_round(backend, folder, sizes, fakes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
