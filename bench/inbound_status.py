"""Status callbacks: a storm of Twilio callbacks (sent, delivered, read, in any order) for
messages the gateway sent, against the bare aiohttp handler replaying the same requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bench.api import text_of
from bench.inbound_sms import BARE, answers, cpu_note
from bench.load import message_delivery, wait_until
from bench.report import AtLeast, Check, Figure, Row
from bench.signing import StatusCallback, reference_of, status_storm, twilio_status
from bench.stage import Stage, serve_load

#: what Twilio reports for a message, in the order it happens (the storm shuffles them)
STATUSES = ("sent", "delivered", "read")
#: how far each status takes a delivery
RANK = {"PENDING": 0, "SENT": 1, "DELIVERED": 2, "READ": 3}
REACHES = {"sent": 1, "delivered": 2, "read": 3}
#: API calls in flight while the messages are sent (set-up, untimed)
SENDERS = 32


@dataclass(frozen=True)
class Sent:
    """A message the gateway sent through the Twilio fake."""

    reference: str
    conversation_id: str
    sid: str
    to: str


async def send_messages(
    stage: Stage, conversations: Mapping[str, str], count: int
) -> dict[str, Sent]:
    """`count` replies through the API, spread over the customers; answers them by SID once
    the gateway has recorded each as SENT."""
    before = await stage.fakes.sent_count(stage.http)
    numbers = sorted(conversations)
    queue = iter(range(count))

    async def sender() -> None:
        for n in queue:
            await stage.api.send_text(conversations[numbers[n % len(numbers)]], f"Shipped [o{n}]")

    await asyncio.gather(*(sender() for _ in range(SENDERS)))

    async def all_taken() -> bool:
        return await stage.fakes.sent_count(stage.http) - before >= count

    await wait_until(all_taken, timeout=600, interval=0.2)
    by_reference = {
        reference_of(m["body"]): m for m in await stage.fakes.sent(stage.http, after=before)
    }
    sent = {
        m["sid"]: Sent(ref, conversations[m["to"]], m["sid"], m["to"])
        for ref, m in by_reference.items()
        if ref is not None and ref.startswith("o")
    }

    async def all_recorded() -> bool:
        listed = await statuses(stage, sent.values())
        return len(listed) == len(sent) and all(RANK[s] >= 1 for s in listed.values())

    await wait_until(all_recorded, timeout=600, interval=0.5)
    return sent


async def statuses(stage: Stage, sent: Iterable[Sent], newest: bool = False) -> dict[str, str]:
    """The delivery status the API lists for each sent message, by SID (`newest`: looking at
    the newest page of each conversation only, which is quicker)."""
    sent = list(sent)
    conversations = sorted({s.conversation_id for s in sent})
    wanted = {s.sid for s in sent}
    found: dict[str, str] = {}
    if newest:
        pages = await asyncio.gather(*(stage.api.latest(c) for c in conversations))
        messages = [m for page in pages for m in page]
    else:
        messages = await stage.api.every_message(conversations)
    for message in messages:
        status = message_delivery(message)
        reference = reference_of(text_of(message))
        if status is None or reference is None or not reference.startswith("o"):
            continue
        for provider_id in message["delivery"].get("providerMessageIds", []):
            if provider_id in wanted:
                found[provider_id] = status
    return found


def highest(callbacks: list[StatusCallback]) -> dict[str, int]:
    """For each SID, how far the given callbacks take its delivery."""
    reached: dict[str, int] = {}
    for callback in callbacks:
        reached[callback.message_sid] = max(
            reached.get(callback.message_sid, 0), REACHES[callback.status]
        )
    return reached


async def status_callbacks(
    stage: Stage, conversations: Mapping[str, str], inbound_rate: float
) -> tuple[list[Row], list[str]]:
    """The status-callback figures: the gateway's callbacks per second against bare aiohttp."""
    sizes, url, db = stage.sizes, stage.daemon.url, stage.database
    # Enough messages for the storm to outlast the load, judging by the inbound SMS rate
    # (a status is cheaper to record than a message).
    count = max(200, int(inbound_rate * 3 * sizes.seconds * 1.5 / len(STATUSES)))
    sent = await send_messages(stage, conversations, count)
    storm = status_storm(sorted(sent), STATUSES, window=len(STATUSES) * 64, seed=stage.run)
    by_reference = {c.reference: c for c in storm}
    requests = stage.request_file("sms-status")
    requests.add(twilio_status(url, c, sent[c.message_sid].to) for c in storm)

    bare = await serve_load(stage.bare.url, stage.bare.pid, requests, sizes)
    gateway = await serve_load(url, stage.daemon_pid, requests, sizes, daemon=True)
    acked = [by_reference[r] for r in gateway.wrk.acked]
    must_reach = highest(acked)

    async def last_ones_listed() -> bool:
        last = acked[-sizes.connections :]
        listed = await statuses(stage, [sent[c.message_sid] for c in last], newest=True)
        return all(RANK.get(listed.get(c.message_sid, ""), 0) >= REACHES[c.status] for c in last)

    lag = await wait_until(last_ones_listed)
    seconds = gateway.wrk.seconds + lag
    rate = len(acked) / seconds

    may_reach = highest(storm[: gateway.wrk.sent])
    listed = await statuses(stage, sent.values())
    behind = sorted(s for s, rank in must_reach.items() if RANK.get(listed.get(s, ""), 0) < rank)
    beyond = sorted(
        s for s, status in listed.items() if RANK.get(status, 0) > max(1, may_reach.get(s, 0))
    )
    detail = (
        f"{len(acked):,} acknowledged for {len(must_reach):,} messages: "
        f"{len(behind)} not applied, {len(beyond)} beyond what was sent"
    )

    name = "SMS status callbacks"
    rows: list[Row] = [
        Figure(f"{name}, callbacks/s", db, rate, bare.wrk.ok_per_second, BARE, AtLeast(0.35)),
        Figure(f"{name}, p99 ms", db, gateway.wrk.p99_ms, bare.wrk.p99_ms, BARE, None, 1),
        answers(f"{name}, answers", db, gateway.wrk),
        Check(f"{name}, each applied", db, detail, not (behind or beyond)),
    ]
    notes = [
        cpu_note(
            f"{name} on {db}",
            {"gateway": gateway, "bare": bare},
            f"; {len(sent):,} sent messages, {len(STATUSES)} callbacks each, shuffled within "
            f"windows of {len(STATUSES) * 64}; listed {lag * 1000:.0f} ms after the load",
        )
    ]
    return rows, notes
