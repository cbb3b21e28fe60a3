"""Inbound SMS: signed Twilio webhooks at 64 connections against the daemon, the bare aiohttp
handler and the naive SQLModel handler, all replaying the same pre-signed requests."""

from __future__ import annotations

from bench import baselines
from bench.harness import naive
from bench.load import (
    conversations_by_reference,
    count,
    last_acknowledged,
    listed_references,
    post_all,
    wait_listed,
)
from bench.report import AtLeast, Below, Check, Figure, Row
from bench.signing import phone, sid, twilio_inbound, twilio_inbound_load
from bench.stage import Served, Stage, serve_load
from bench.wrk import WrkResult

BARE, NAIVE = "bare aiohttp", "naive SQLModel"
INBOUND = "PARTICIPANT_TO_BUSINESS"


async def warm_up(stage: Stage) -> dict[str, str]:
    """Each customer texts once (untimed: a first contact creates the contact and the
    conversation); answers the conversation of each phone number."""
    url = stage.daemon.url
    first = [
        twilio_inbound(url, f"w{n}", phone(n), sid(stage.run, 10**9 + n))
        for n in range(stage.sizes.customers)
    ]
    await post_all(stage.http, url, first)
    by_reference = await conversations_by_reference(stage.api)
    return {phone(n): by_reference[f"w{n}"] for n in range(stage.sizes.customers)}


def answers(name: str, database: str, wrk: WrkResult) -> Check:
    """No answer but 200, no socket error, and no request sent twice."""
    detail = f"{wrk.ok:,} answered 200, {wrk.other} other, {wrk.socket_errors} socket errors"
    if wrk.wrapped:
        detail += "; the request file ran out (requests sent twice)"
    return Check(name, database, detail, not (wrk.other or wrk.socket_errors or wrk.wrapped))


def cpu_note(name: str, runs: dict[str, Served], extra: str = "") -> str:
    shares = ", ".join(
        f"{who} {run.server_cpu:.2f} (wrk {run.wrk.cpu_share:.2f})" for who, run in runs.items()
    )
    per_answer = ", ".join(f"{who} {run.cpu_per_answer_us:.0f}" for who, run in runs.items())
    writers = "".join(
        f"; the {who}'s {run.writer.note()}" for who, run in runs.items() if run.writer
    )
    return (
        f"{name}: share of a core used by the server (and by wrk): {shares}; the server's CPU "
        f"µs per request answered: {per_answer}{writers}{extra}"
    )


async def inbound_sms(
    stage: Stage, naive_url: str, conversation_of_phone: dict[str, str]
) -> tuple[list[Row], list[str], float]:
    """The inbound SMS figures; answers (rows, notes, the gateway's messages per second).

    `conversation_of_phone`: every customer has written once already (see `warm_up`).
    """
    sizes, url, db = stage.sizes, stage.daemon.url, stage.database
    senders: dict[str, str] = {}
    requests = stage.request_file("sms-inbound")
    requests.add(
        twilio_inbound_load(url, stage.run, 0, stage.planned_requests(), sizes.customers, senders)
    )

    bare = await serve_load(stage.bare.url, stage.bare.pid, requests, sizes)
    # The gateway must never run out of requests: give it more than the bare handler took.
    missing = int(bare.wrk.sent * 1.1) - requests.count
    if missing > 0:
        more = twilio_inbound_load(
            url, stage.run, requests.count, missing, sizes.customers, senders
        )
        requests.add(more)

    naive_server = naive(stage.folder, naive_url)
    await naive_server.start()
    try:
        naive_run = await serve_load(naive_server.url, naive_server.pid, requests, sizes)
    finally:
        await naive_server.stop()
    naive_stored = baselines.stored_count(naive_url)

    gateway = await serve_load(url, stage.daemon_pid, requests, sizes, daemon=True)
    acked = gateway.wrk.acked
    # The clock stops when the messages acknowledged last are listed.
    lag = await wait_listed(
        stage.api,
        last_acknowledged(acked, lambda r: conversation_of_phone[senders[r]], sizes.connections),
    )
    seconds = gateway.wrk.seconds + lag
    rate = len(set(acked)) / seconds
    listed = await listed_references(stage.api, conversation_of_phone.values(), "m", INBOUND)
    counted = count(acked, listed, sent=(f"m{n}" for n in range(gateway.wrk.sent)))

    name = "inbound SMS"
    rows: list[Row] = [
        Figure(f"{name}, messages/s", db, rate, bare.wrk.ok_per_second, BARE, AtLeast(0.35)),
        Figure(f"{name}, messages/s", db, rate, naive_run.wrk.ok_per_second, NAIVE, AtLeast(10)),
        Figure(f"{name}, p99 ms", db, gateway.wrk.p99_ms, bare.wrk.p99_ms, BARE, Below(50), 1),
        answers(f"{name}, answers", db, gateway.wrk),
        counted.check(f"{name}, stored exactly once", db),
        Check(
            f"{name}, naive handler stored what it answered",
            db,
            f"{naive_run.wrk.ok:,} answered 200, {naive_stored:,} stored",
            naive_stored >= naive_run.wrk.ok and not naive_run.wrk.other,
        ),
    ]
    notes = [
        cpu_note(
            f"{name} on {db}",
            {"gateway": gateway, "bare": bare, "naive": naive_run},
            f"; the last acknowledged message was listed {lag * 1000:.0f} ms after the load",
        )
    ]
    return rows, notes, rate
