"""Outbound: API sendMessage until the Twilio fake has received each message, against the raw
aiohttp client posting the same sends to the same fake, on SQLite and (with
INBOX_TEST_POSTGRES_URL) on PostgreSQL.

    python -m bench.outbound [--quick]

The SMS channel's pacing is off (`rate_per_second = 0`: unset, Twilio's one message a second
applies) and the fake posts no status callbacks. 32 sends are in flight, from this process;
the daemon and the fake each run in a process of their own. A message counts once the fake has
it; the clock stops when the fake has every message the API accepted.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench import harness
from bench.api import Api, ApiError
from bench.cli import options
from bench.load import count, wait_until
from bench.report import AtLeast, Below, Check, Figure, Report
from bench.signing import phone, reference_of
from bench.stats import CpuMeter, Latency
from bench.writer_share import WriterShare, read_counters

IN_FLIGHT = 32
RAW = "raw aiohttp client"


@dataclass(frozen=True)
class Sizes:
    seconds: float
    customers: int


DEFAULT = Sizes(seconds=10, customers=1_000)
QUICK = Sizes(seconds=3, customers=100)


@dataclass
class Sends:
    """What one load of sends saw, from the sending side."""

    accepted: list[str]
    failed: list[str]
    latencies: list[float]
    seconds: float
    #: this process's share of a core (it is the client)
    client_cpu: float
    #: the fake's share of a core
    fake_cpu: float
    server_cpu: float = 0.0

    @property
    def latency(self) -> Latency:
        return Latency.of_seconds(self.latencies)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def in_flight(
    send: Callable[[str], Awaitable[None]], seconds: float, fake_pid: int, prefix: str
) -> Sends:
    """Call `send(reference)` from IN_FLIGHT senders for `seconds`."""
    result = Sends([], [], [], 0.0, 0.0, 0.0)
    numbers = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def sender() -> None:
        while time.monotonic() < deadline:
            reference = f"{prefix}{next(numbers)}"
            started = time.perf_counter()
            try:
                await send(reference)
            except (ApiError, aiohttp.ClientError, RuntimeError) as error:
                result.failed.append(f"{reference}: {error}"[:300])
                continue
            result.latencies.append(time.perf_counter() - started)
            result.accepted.append(reference)

    fake = CpuMeter(fake_pid)
    fake.start()
    cpu, started = own_cpu(), time.monotonic()
    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    result.seconds = time.monotonic() - started
    result.client_cpu = (own_cpu() - cpu) / result.seconds
    result.fake_cpu = fake.stop()
    return result


async def raw_client(http: aiohttp.ClientSession, fakes: harness.Fakes, sizes: Sizes) -> Sends:
    """The baseline: form-encoded creates straight to the fake, as Twilio's API takes them."""
    url = f"{fakes.twilio_url}/2010-04-01/Accounts/{harness.ACCOUNT_SID}/Messages.json"
    credentials = f"{harness.ACCOUNT_SID}:{harness.TWILIO_AUTH_TOKEN}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
    n = 0

    async def send(reference: str) -> None:
        nonlocal n
        n += 1
        form = {
            "To": phone(n % sizes.customers),
            "From": harness.BUSINESS_NUMBER,
            "Body": f"Your order has shipped [{reference}]",
            "StatusCallback": "http://127.0.0.1:9/channels/sms/status",
        }
        async with http.post(url, data=form, headers=auth) as response:
            await response.read()
            if response.status != 201:
                raise RuntimeError(f"the fake answered {response.status}")

    return await in_flight(send, sizes.seconds, fakes.server.pid, "r")


async def customers(api: Api, how_many: int) -> list[str]:
    """A conversation for each of `how_many` SMS customers (set-up, untimed)."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> str:
        async with gate:
            contact = await api.create_contact("sms", phone(n))
            return await api.create_conversation(contact)

    return list(await asyncio.gather(*(one(n) for n in range(how_many))))


async def one_round(
    backend: str, folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report
) -> None:
    here = folder / backend
    db = harness.backend_name(backend)
    with harness.database(backend, here) as url:
        daemon = harness.daemon(here, url, fakes, sms_rate_per_second=0)
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            harness.running(daemon),
        ):
            assert daemon.process is not None
            api = Api(http, daemon.url)
            conversations = await customers(api, sizes.customers)
            raw = await raw_client(http, fakes, sizes)

            before = await fakes.sent_count(http)
            n = 0

            async def send(reference: str) -> None:
                nonlocal n
                n += 1
                text = f"Your order has shipped [{reference}]"
                await api.send_text(conversations[n % len(conversations)], text)

            writer_before = await read_counters(daemon.url)
            meter = CpuMeter(daemon.process.pid)
            meter.start()
            started = time.monotonic()
            gateway = await in_flight(send, sizes.seconds, fakes.server.pid, "s")

            async def all_received() -> bool:
                return await fakes.sent_count(http) - before >= len(gateway.accepted)

            await wait_until(all_received, timeout=1800, interval=0.02)
            seconds = time.monotonic() - started
            gateway.server_cpu = meter.stop()
            writer = WriterShare(writer_before, await read_counters(daemon.url))
            # a message sent twice may arrive after the last one: give it a moment to show
            await asyncio.sleep(1.0)
            received = [reference_of(m["body"]) or "" for m in await fakes.sent(http, before)]
        errors = harness.error_lines(daemon.log)

    rate = len(gateway.accepted) / seconds
    counted = count(gateway.accepted, received, sent=gateway.accepted)
    repeated = sum(n - 1 for n in Counter(received).values() if n > 1)
    refused = f"{len(gateway.accepted):,} accepted, {len(gateway.failed)} refused"
    if gateway.failed:
        refused += f" ({gateway.failed[0]})"
    name = "outbound SMS"
    raw_rate = len(raw.accepted) / raw.seconds
    p99, raw_p99 = gateway.latency.p99_ms, raw.latency.p99_ms
    report.add(
        Figure(f"{name}, sent/s (API to fake)", db, rate, raw_rate, RAW, AtLeast(0.25)),
        Figure(f"{name}, sendMessage accepted/s", db, len(gateway.accepted) / gateway.seconds),
        Figure(f"{name}, sendMessage p99 ms", db, p99, raw_p99, RAW, Below(50), 1),
        Check(f"{name}, API answers", db, refused, not gateway.failed),
        counted.check(f"{name}, sent exactly once", db, "sent"),
        Check("daemon log, ERROR lines", db, harness.errors_detail(errors), not errors),
    )
    report.note(
        f"{name} on {db}: share of a core used by the daemon {gateway.server_cpu:.2f}, the fake "
        f"{gateway.fake_cpu:.2f} (raw run: {raw.fake_cpu:.2f}), the sending client "
        f"{gateway.client_cpu:.2f} (raw run: {raw.client_cpu:.2f}); the fake had the last message "
        f"{seconds - gateway.seconds:.2f} s after the load; {repeated} sent more than once; "
        f"the daemon's {writer.note()}"
    )


async def main() -> int:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    report = Report("Outbound", quick=args.quick)
    report.note(
        f"{IN_FLIGHT} sends in flight for {sizes.seconds:g} s, to {sizes.customers:,} customers; "
        "pacing off (rate_per_second = 0), no status callbacks"
    )
    async with harness.fakes_in_workspace(customers=0) as (folder, fakes):
        for backend in harness.backends():
            await one_round(backend, folder, sizes, fakes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
