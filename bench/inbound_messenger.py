"""Messenger: signed webhooks carrying several entries each, against the bare aiohttp handler
that parses the same JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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

#: messages per webhook POST (Meta batches entries)
PER_POST = 4


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


async def messenger(stage: Stage) -> tuple[list[Row], list[str]]:
    """The Messenger figures: messages a second against bare aiohttp, p99, exactly once."""
    sizes, db = stage.sizes, stage.database
    conversation_of_psid = await warm_up(stage)
    senders: dict[str, str] = {}
    carried: dict[str, list[str]] = {}
    requests = stage.request_file("messenger")
    planned = stage.planned_requests(PER_POST)
    posts = messenger_posts(stage.run, 0, planned, PER_POST, sizes.customers, senders)
    requests.add(requests_of(posts, carried))

    bare = await serve_load(stage.bare.url, stage.bare.pid, requests, sizes)
    missing = int(bare.wrk.sent * 1.1) - requests.count
    if missing > 0:
        more = messenger_posts(
            stage.run, requests.count, missing, PER_POST, sizes.customers, senders
        )
        requests.add(requests_of(more, carried))

    gateway = await serve_load(stage.daemon.url, stage.daemon_pid, requests, sizes, daemon=True)
    acked = [reference for post in gateway.wrk.acked for reference in carried[post]]
    lag = await wait_listed(
        stage.api,
        last_acknowledged(
            acked, lambda r: conversation_of_psid[senders[r]], sizes.connections * PER_POST
        ),
    )
    seconds = gateway.wrk.seconds + lag
    rate = len(set(acked)) / seconds
    listed = await listed_references(stage.api, conversation_of_psid.values(), "f", INBOUND)
    sent = (r for n in range(gateway.wrk.sent) for r in carried[f"p{n}"])
    counted = count(acked, listed, sent=sent)

    name = f"Messenger webhooks ({PER_POST} entries a POST)"
    rows: list[Row] = [
        Figure(f"{name}, messages/s", db, rate, bare.wrk.ok_per_second * PER_POST, BARE),
        Figure(f"{name}, p99 ms", db, gateway.wrk.p99_ms, bare.wrk.p99_ms, BARE, None, 1),
        answers(f"{name}, answers", db, gateway.wrk),
        counted.check(f"{name}, stored exactly once", db),
    ]
    notes = [
        cpu_note(
            f"Messenger on {db}",
            {"gateway": gateway, "bare": bare},
            f"; listed {lag * 1000:.0f} ms after the load",
        )
    ]
    return rows, notes
