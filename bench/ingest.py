"""Group commit: inbound SMS webhooks per second, with and without sharing commits.

Signed Twilio webhooks (`POST /channels/sms/inbound`) are posted to the real gateway with
1, 16 and 64 requests in flight. Each run starts a fresh gateway on a fresh database; the
baseline runs are the same with the writer limited to one job per transaction
(`gateway.store.writer.MAX_BATCH = 1`), i.e. one commit per request.

    python -m bench.ingest [--quick]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import ClientSession, TCPConnector
from sqlmodel import Session, func, select
from twilio.request_validator import RequestValidator

import gateway.store.writer as writer_module
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
from gateway.store.models import MessageRow
from tests.support.config import ACCOUNT_SID, TWILIO_AUTH_TOKEN, twilio_channel
from tests.support.live import LiveGateway

LEVELS = (1, 16, 64)
#: distinct customers texting in; each has written once before the timed part
SENDERS = 32
BUSINESS_NUMBER = "+15550001111"


@dataclass(frozen=True)
class Sizes:
    #: timed webhooks per run
    messages: int


DEFAULT = Sizes(messages=1_000)
QUICK = Sizes(messages=150)


@dataclass(frozen=True)
class Webhook:
    body: bytes
    signature: str


@dataclass(frozen=True)
class Result:
    grouped: bool
    concurrency: int
    messages: int
    seconds: float
    latencies: list[float]
    batches: int
    jobs: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


def webhooks(url: str, first: int, count: int) -> list[Webhook]:
    """Signed inbound-SMS webhooks as Twilio posts them, made before any clock starts."""
    validator = RequestValidator(TWILIO_AUTH_TOKEN)
    made = []
    for n in range(first, first + count):
        sid = f"SM{n:032x}"
        fields = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": f"Hello, this is message {n}. Is my order on its way?",
            "FromCountry": "US",
            "To": BUSINESS_NUMBER,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+1555{n % SENDERS:07d}",
            "ApiVersion": "2010-04-01",
        }
        signature = str(validator.compute_signature(url, fields))
        made.append(Webhook(urlencode(fields).encode(), signature))
    return made


async def post_all(
    http: ClientSession, url: str, hooks: list[Webhook], concurrency: int
) -> list[float]:
    """Post every webhook with `concurrency` in flight; the latency of each."""
    queue = iter(hooks)
    latencies: list[float] = []

    async def worker() -> None:
        for hook in queue:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": hook.signature,
            }
            started = time.perf_counter()
            async with http.post(url, data=hook.body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the gateway answered {response.status}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


@contextmanager
def one_commit_per_request(enabled: bool) -> Iterator[None]:
    """Limit the writer to one job per transaction while the block runs."""
    saved = writer_module.MAX_BATCH
    if enabled:
        writer_module.MAX_BATCH = 1
    try:
        yield
    finally:
        writer_module.MAX_BATCH = saved


def stored(live: LiveGateway) -> int:
    with Session(live.gateway.db.engine) as session:
        return int(session.exec(select(func.count()).select_from(MessageRow)).one())


async def run(database_url: str, concurrency: int, grouped: bool, sizes: Sizes) -> Result:
    with one_commit_per_request(not grouped):
        live = await start_bench_gateway(database_url, twilio_channel())
        try:
            url = f"{live.url}/channels/sms/inbound"
            warm = webhooks(url, 0, SENDERS)
            timed = webhooks(url, SENDERS, sizes.messages)
            async with ClientSession(connector=TCPConnector(limit=concurrency)) as http:
                # Every customer's first message creates their contact: not what is timed.
                await post_all(http, url, warm, concurrency)
                writer = live.gateway.db.writer
                batches, jobs = writer.batches, writer.jobs
                started = time.perf_counter()
                latencies = await post_all(http, url, timed, concurrency)
                seconds = time.perf_counter() - started
                batches, jobs = writer.batches - batches, writer.jobs - jobs
            if stored(live) != SENDERS + sizes.messages:
                raise RuntimeError(f"stored {stored(live)} messages, not all that were posted")
        finally:
            await live.stop()
    return Result(grouped, concurrency, sizes.messages, seconds, latencies, batches, jobs)


async def main() -> None:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    clock = Stopwatch()
    rows: list[list[str]] = []
    ratios: list[str] = []
    with databases() as made:
        for backend in made.backends:
            for concurrency in LEVELS:
                base = await run(made.new(backend), concurrency, False, sizes)
                group = await run(made.new(backend), concurrency, True, sizes)
                for result in (base, group):
                    t = timing(result.latencies)
                    rows.append(
                        [
                            backend,
                            "group commit" if result.grouped else "one per request",
                            str(concurrency),
                            str(result.messages),
                            fmt(result.per_second, 0),
                            fmt(t.median_ms),
                            fmt(t.p95_ms),
                            str(result.batches),
                            str(result.jobs),
                            fmt(ratio(result.jobs, result.batches)),
                        ]
                    )
                ratios.append(
                    f"{backend} c={concurrency}: {ratio(group.per_second, base.per_second):.2f}x"
                )
    print()
    headers = [
        "backend",
        "commit",
        "in flight",
        "messages",
        "msg/s",
        "p50 ms",
        "p95 ms",
        "batches",
        "jobs",
        "jobs/batch",
    ]
    print(table(headers, rows))
    print()
    print("ratio group commit / one commit per request, messages/s: " + ", ".join(ratios))
    print(f"elapsed {clock.elapsed:.1f} s{' (--quick)' if args.quick else ''}")


if __name__ == "__main__":
    asyncio.run(main())
