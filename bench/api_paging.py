"""The O(page) promise: a page of the REST API costs the same whatever the table size.

Two gateways run side by side, one on a small database and one on a large one (a
conversation of 1 000 vs 100 000 messages; 10 vs 10 000 conversations), and the same
requests go to both, interleaved. The ratio large/small of the median latency should be ≈ 1.

    python -m bench.api_paging [--quick]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientSession
from sqlalchemy import Engine, Table, insert, update
from sqlmodel import SQLModel

from bench._common import (
    Stopwatch,
    databases,
    fmt,
    options,
    ratio,
    start_bench_gateway,
    table,
    timing,
)
from channels import DeliveryStatus, Direction, Visibility
from gateway.clock import new_id
from gateway.web.api import paging
from tests.support.config import twilio_channel
from tests.support.live import LiveGateway

PAGE = 30
START = datetime(2024, 1, 1, tzinfo=UTC)
#: rows per INSERT statement while filling
CHUNK = 5_000


@dataclass(frozen=True)
class Sizes:
    small_messages: int
    large_messages: int
    small_conversations: int
    large_conversations: int
    #: timed requests per kind of request and side
    rounds: int
    #: pages of the walks along `next` cursors
    pages: int = 10


DEFAULT = Sizes(1_000, 100_000, 10, 10_000, rounds=150)
QUICK = Sizes(1_000, 20_000, 10, 2_000, rounds=30)


# -- filling the database -------------------------------------------------------------------


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class Filled:
    """The conversation holding the messages, and the middle one of the conversation list."""

    conversation_id: str
    middle_key: list[Any]


def fill(engine: Engine, messages: int, conversations: int) -> Filled:
    """`conversations` conversations, the newest holding `messages` messages."""
    contacts: list[dict[str, Any]] = []
    identities: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for n in range(conversations):
        contact_id, stamp = new_id(), START + timedelta(seconds=n)
        contacts.append({"id": contact_id, "display_name": f"Customer {n}", "created_at": stamp})
        identities.append(
            {
                "channel_id": "sms",
                "address": f"+1555{n:07d}",
                "contact_id": contact_id,
                "opted_out": False,
                "created_at": stamp,
            }
        )
        rows.append(
            {
                "id": new_id(),
                "participant_kind": "contactId",
                "participant_id": contact_id,
                "last_sequence": 0,
                "created_at": stamp,
                "last_activity_at": stamp,
            }
        )
    big = rows[-1]
    big["last_sequence"] = messages
    big["last_activity_at"] = START + timedelta(days=30, seconds=messages)
    with engine.begin() as connection:
        for name, values in (
            ("contacts", contacts),
            ("identities", identities),
            ("conversations", rows),
        ):
            for at in range(0, len(values), CHUNK):
                connection.execute(insert(_table(name)), values[at : at + CHUNK])
    contact_id = str(big["participant_id"])
    for at in range(0, messages, CHUNK):
        batch, deliveries = _messages(str(big["id"]), contact_id, at, min(at + CHUNK, messages))
        with engine.begin() as connection:
            connection.execute(insert(_table("messages")), batch)
            if deliveries:
                connection.execute(insert(_table("deliveries")), deliveries)
    with engine.begin() as connection:
        conversations_table = _table("conversations")
        connection.execute(
            update(conversations_table)
            .where(conversations_table.c.id == big["id"])
            .values(last_inbound_at=big["last_activity_at"], last_inbound_channel_id="sms")
        )
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a load; without it the planner guesses blindly.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    middle = rows[conversations // 2]
    key = [middle["last_activity_at"].isoformat(), middle["id"]]
    return Filled(str(big["id"]), key)


def _messages(
    conversation_id: str, contact_id: str, first: int, end: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Messages `first`..`end` (0-based): the customer's, the business's replies, some notes."""
    messages, deliveries = [], []
    for n in range(first, end):
        stamp = START + timedelta(days=30, seconds=n)
        note, inbound = n % 10 == 9, n % 2 == 0
        row: dict[str, Any] = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "sequence": n + 1,
            "content": {"basic": {"items": [{"text": f"Message number {n + 1}, hello there"}]}},
            "sender_kind": "contactId" if inbound else "appId",
            "sender_id": contact_id if inbound else "bench",
            "direction": (
                Direction.PARTICIPANT_TO_BUSINESS if inbound else Direction.BUSINESS_TO_PARTICIPANT
            ).value,
            "visibility": (
                Visibility.BUSINESS if note else Visibility.BUSINESS_AND_PARTICIPANT
            ).value,
            "created_at": stamp,
            "source_channel_id": "sms" if inbound else None,
            "target_channel_id": None if inbound or note else "sms",
            "provider_message_id": f"SM{n:032x}" if inbound else None,
            "badges": [],
            "interaction_id": None,
        }
        messages.append(row)
        if not inbound and not note:
            deliveries.append(
                {
                    "message_id": row["id"],
                    "conversation_id": conversation_id,
                    "channel_id": "sms",
                    "recipient": "+15550000000",
                    "status": DeliveryStatus.DELIVERED.value,
                    "provider_message_ids": [f"SM{n:032x}"],
                    "parts_total": 1,
                    "parts_sent": 1,
                    "attempts": 1,
                    "accepted_at": stamp,
                    "agent_window": False,
                    "updated_at": stamp,
                }
            )
    return messages, deliveries


# -- timing requests ------------------------------------------------------------------------


@dataclass
class Target:
    """One gateway with its filled database."""

    live: LiveGateway
    filled: Filled
    messages: int


@dataclass(frozen=True)
class Case:
    """One kind of request: fixed parameters, or a walk of `pages` pages along `next` cursors."""

    name: str
    path: str
    params: Callable[[Target], dict[str, str]]
    pages: int = 0


@dataclass
class Sample:
    seconds: list[float]
    #: items per page answered, to show that both sides returned full pages
    items: set[int]


async def get(
    http: ClientSession, target: Target, path: str, params: dict[str, str]
) -> tuple[float, Any]:
    """One GET, checked and fully read; answers (seconds taken, JSON body)."""
    started = time.perf_counter()
    async with http.get(target.live.url + path, params=params, headers=target.live.auth) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"GET {path} {params} answered {r.status}: {body}")
    return time.perf_counter() - started, body


async def run_case(http: ClientSession, target: Target, case: Case, times: int) -> Sample:
    """`times` requests (or walks), timing every request that fetched a page by itself."""
    sample = Sample([], set())
    params = case.params(target)
    for _ in range(times):
        took, body = await get(http, target, case.path, params)
        if not case.pages:
            sample.seconds.append(took)
            sample.items.add(body["pagingMetadata"]["count"])
            continue
        for _ in range(case.pages - 1):
            cursor = body["pagingMetadata"]["cursors"].get("next")
            if cursor is None:
                raise RuntimeError(f"{case.name}: ran out of pages before {case.pages}")
            took, body = await get(http, target, case.path, {**params, "paging.cursor": cursor})
            sample.seconds.append(took)
            sample.items.add(body["pagingMetadata"]["count"])
    return sample


async def compare(
    http: ClientSession, small: Target, large: Target, case: Case, times: int, repeats: int = 3
) -> tuple[Sample, Sample]:
    """Run `case` on both gateways in turns, after one warm-up run each."""
    await run_case(http, small, case, 1)
    await run_case(http, large, case, 1)
    a, b = Sample([], set()), Sample([], set())
    for _ in range(repeats):
        for target, sample in ((small, a), (large, b)):
            more = await run_case(http, target, case, times)
            sample.seconds += more.seconds
            sample.items |= more.items
    return a, b


def message_query(order: str, limit: int = PAGE) -> Callable[[Target], dict[str, str]]:
    def params(target: Target) -> dict[str, str]:
        return {
            "conversationId": target.filled.conversation_id,
            "visibility": Visibility.BUSINESS.value,
            "paging.limit": str(limit),
            "sorting.order": order,
        }

    return params


def middle_of_messages(order: str) -> Callable[[Target], dict[str, str]]:
    """The page after the conversation's middle message, by a cursor made for it."""

    def params(target: Target) -> dict[str, str]:
        query = message_query(order)(target)
        key = {
            "conversationId": query["conversationId"],
            "visibility": query["visibility"],
            "sortingOrder": order,
        }
        middle = paging.Cursor(paging.FORWARD, [target.messages // 2], key)
        return {**query, "paging.cursor": paging.encode(middle)}

    return params


def conversation_query(limit: int) -> Callable[[Target], dict[str, str]]:
    return lambda _: {"paging.limit": str(limit)}


def middle_of_conversations(limit: int) -> Callable[[Target], dict[str, str]]:
    """The page after the middle conversation of the list, by a cursor made for it."""

    def params(target: Target) -> dict[str, str]:
        middle = paging.Cursor(paging.FORWARD, target.filled.middle_key, {})
        return {"paging.limit": str(limit), "paging.cursor": paging.encode(middle)}

    return params


def cases(sizes: Sizes) -> list[Case]:
    messages = "/inbox/v2/messages"
    found: list[Case] = []
    for order in ("DESC", "ASC"):
        found += [
            Case(f"messages, first page, {order}", messages, message_query(order)),
            Case(
                f"messages, pages 2-{sizes.pages} by cursor, {order}",
                messages,
                message_query(order),
                pages=sizes.pages,
            ),
            Case(f"messages, middle page by cursor, {order}", messages, middle_of_messages(order)),
        ]
    # The small list holds 10 conversations: pages of 10, and of 5 where a cursor is needed,
    # so that both sides answer pages of the same length.
    small = sizes.small_conversations
    conversations = "/inbox/v2/conversations"
    return [
        *found,
        Case("conversations, first page", conversations, conversation_query(small)),
        Case(
            "conversations, page 2 by cursor",
            conversations,
            conversation_query(small // 2),
            pages=2,
        ),
        Case(
            "conversations, middle page by cursor",
            conversations,
            middle_of_conversations(small // 2),
        ),
    ]


async def bench_backend(
    backend: str, url_small: str, url_large: str, sizes: Sizes
) -> list[list[str]]:
    small_live = await start_bench_gateway(url_small, twilio_channel())
    large_live = await start_bench_gateway(url_large, twilio_channel())
    try:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        small_filled, large_filled = await asyncio.gather(
            loop.run_in_executor(
                None,
                fill,
                small_live.gateway.db.engine,
                sizes.small_messages,
                sizes.small_conversations,
            ),
            loop.run_in_executor(
                None,
                fill,
                large_live.gateway.db.engine,
                sizes.large_messages,
                sizes.large_conversations,
            ),
        )
        print(f"{backend}: filled both databases in {time.perf_counter() - started:.1f} s")
        small = Target(small_live, small_filled, sizes.small_messages)
        large = Target(large_live, large_filled, sizes.large_messages)
        rows = []
        async with ClientSession() as http:
            for case in cases(sizes):
                # about `rounds` timed requests per side, in three turns
                times = max(1, sizes.rounds // max(1, case.pages - 1) // 3)
                a, b = await compare(http, small, large, case, times)
                ta, tb = timing(a.seconds), timing(b.seconds)
                items = "/".join(str(n) for n in sorted(a.items | b.items))
                rows.append(
                    [
                        backend,
                        case.name,
                        items,
                        str(ta.count),
                        fmt(ta.median_ms),
                        fmt(ta.p95_ms),
                        fmt(tb.median_ms),
                        fmt(tb.p95_ms),
                        fmt(ratio(tb.median_ms, ta.median_ms)),
                    ]
                )
        return rows
    finally:
        await small_live.stop()
        await large_live.stop()


async def main() -> None:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    clock = Stopwatch()
    rows: list[list[str]] = []
    with databases() as made:
        for backend in made.backends:
            rows += await bench_backend(backend, made.new(backend), made.new(backend), sizes)
    print()
    print(
        f"small = {sizes.small_messages:,} messages / {sizes.small_conversations:,} "
        f"conversations; large = {sizes.large_messages:,} messages / "
        f"{sizes.large_conversations:,} conversations; times in ms per request"
    )
    print()
    headers = [
        "backend",
        "request",
        "items",
        "n",
        "small median",
        "small p95",
        "large median",
        "large p95",
        "large/small",
    ]
    print(table(headers, rows))
    print()
    ratios = [float(r[-1]) for r in rows]
    print(
        f"ratio large/small of the median: worst {max(ratios):.2f}, "
        f"mean {sum(ratios) / len(ratios):.2f} (target ≈ 1: independent of table size)"
    )
    print(f"elapsed {clock.elapsed:.1f} s{' (--quick)' if args.quick else ''}")


if __name__ == "__main__":
    asyncio.run(main())
