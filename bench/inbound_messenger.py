"""Messenger: signed webhooks carrying several entries each, against the bare aiohttp handler
that parses the same JSON: customers' messages only, then mixed with taps on quick replies and
read and delivery watermarks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bench.fakes import psid
from bench.inbound_sms import BARE, INBOUND, answers, cpu_note
from bench.load import (
    conversations_by_reference,
    count,
    last_acknowledged,
    listed_references,
    post_all,
    wait_listed,
)
from bench.report import Figure, Row
from bench.signing import MessengerPost, messenger_post, messenger_posts
from bench.stage import Stage, serve_load
from bench.wrk import Request


@dataclass(frozen=True)
class Shape:
    """What each webhook POST carries."""

    name: str
    #: messages a POST (Meta batches entries)
    per_post: int
    #: the messages' references start with this
    prefix: str
    #: with a tap and two watermarks among the messages (`signing.messenger_post`)
    mixed: bool = False


MESSAGES = Shape("Messenger webhooks (4 entries a POST)", 4, "f")
MIXED = Shape(
    "Messenger webhooks, mixed (2 messages, a quick-reply tap, 2 watermarks a POST)",
    3,
    "x",
    mixed=True,
)


async def warm_up(stage: Stage) -> dict[str, str]:
    """Each customer writes once (untimed); answers the conversation of each PSID."""
    first = [
        messenger_post(stage.run, f"g{n}", [(f"g{n}", psid(n))]).request
        for n in range(stage.sizes.customers)
    ]
    await post_all(stage.http, stage.daemon.url, first)
    by_reference = await conversations_by_reference(stage.api)
    return {psid(n): by_reference[f"g{n}"] for n in range(stage.sizes.customers)}


def requests_of(posts: Iterable[MessengerPost], carried: dict[str, list[str]]) -> Iterator[Request]:
    for post in posts:
        carried[post.request.id] = post.references
        yield post.request


async def messenger(stage: Stage, shape: Shape = MESSAGES) -> tuple[list[Row], list[str]]:
    """The Messenger figures: messages a second against bare aiohttp, p99, exactly once."""
    sizes, db, per_post = stage.sizes, stage.database, shape.per_post
    conversation_of_psid = await warm_up(stage)
    senders: dict[str, str] = {}
    carried: dict[str, list[str]] = {}
    requests = stage.request_file(f"messenger-{shape.prefix}")

    def posts(first: int, count: int) -> Iterator[MessengerPost]:
        customers = sizes.customers
        return messenger_posts(
            stage.run, first, count, per_post, customers, senders, shape.prefix, shape.mixed
        )

    requests.add(requests_of(posts(0, stage.planned_requests(per_post)), carried))
    bare = await serve_load(stage.bare.url, stage.bare.pid, requests, sizes)
    missing = int(bare.wrk.sent * 1.1) - requests.count
    if missing > 0:
        requests.add(requests_of(posts(requests.count, missing), carried))

    gateway = await serve_load(stage.daemon.url, stage.daemon_pid, requests, sizes, daemon=True)
    acked = [reference for post in gateway.wrk.acked for reference in carried[post]]
    lag = await wait_listed(
        stage.api,
        last_acknowledged(
            acked, lambda r: conversation_of_psid[senders[r]], sizes.connections * per_post
        ),
    )
    seconds = gateway.wrk.seconds + lag
    rate = len(set(acked)) / seconds
    listed = await listed_references(
        stage.api, conversation_of_psid.values(), shape.prefix, INBOUND
    )
    sent = (r for n in range(gateway.wrk.sent) for r in carried[f"{shape.prefix}p{n}"])
    counted = count(acked, listed, sent=sent)

    name = shape.name
    rows: list[Row] = [
        Figure(f"{name}, messages/s", db, rate, bare.wrk.ok_per_second * per_post, BARE),
        Figure(f"{name}, p99 ms", db, gateway.wrk.p99_ms, bare.wrk.p99_ms, BARE, None, 1),
        answers(f"{name}, answers", db, gateway.wrk),
        counted.check(f"{name}, stored exactly once", db),
    ]
    notes = [
        cpu_note(
            f"{name} on {db}",
            {"gateway": gateway, "bare": bare},
            f"; listed {lag * 1000:.0f} ms after the load",
        )
    ]
    return rows, notes
