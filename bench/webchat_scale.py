"""Web chat at scale: 10,000 visitors' WebSockets held by one daemon process, connected as
browsers connect (a session, then the socket offering permessage-deflate), from client
processes of their own; on SQLite and (with INBOX_TEST_POSTGRES_URL) on PostgreSQL.

    python -m bench.webchat_scale [--quick]

Measures the daemon's resident memory, how fast the first and the last 1,000 visitors
connect, how long an agent's reply (sendMessage through the API, 32 in flight) takes to reach
the visitor's socket while every visitor is connected, that each reply arrives once and on the
right socket, and that visitors who drop during the handshake leave no ERROR in the log.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import harness
from bench.api import Api, ApiError
from bench.chat_clients import ClientProcess
from bench.cli import options
from bench.report import AtMost, Below, Check, Figure, RatioAtMost, Report
from bench.stats import CpuMeter, Latency, peak_rss_bytes, raise_open_files_limit, rss_bytes

IN_FLIGHT = 32
#: seconds a reply may take to reach its visitor before it counts as lost
LOST_AFTER = 30.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    visitors: int
    client_processes: int
    #: connects in flight per client process
    concurrency: int
    #: the first and the last this many visitors are compared
    edge: int
    #: seconds the replies run
    seconds: float
    #: visitors who drop during the handshake, of each kind
    drops: int


DEFAULT = Sizes(10_000, 4, 16, 1_000, 10, 20)
QUICK = Sizes(400, 2, 16, 100, 3, 5)


@dataclass
class Connected:
    index: int
    conversation_id: str
    deflate: bool
    started: float
    done: float

    @property
    def seconds(self) -> float:
        return self.done - self.started


@dataclass
class Arrival:
    reference: str
    visitor: int
    at: float


def connect_figures(visitors: list[Connected], edge: int, db: str) -> tuple[list[Figure], str]:
    """Connect time and rate of the first and the last `edge` visitors to connect."""
    by_end = sorted(visitors, key=lambda v: v.done)
    first, last = by_end[:edge], by_end[-edge:]
    first_time = Latency.of_seconds([v.seconds for v in first])
    last_time = Latency.of_seconds([v.seconds for v in last])
    first_rate = edge / max(1e-9, first[-1].done - min(v.started for v in first))
    last_rate = edge / max(1e-9, last[-1].done - by_end[-edge - 1].done)
    figures = [
        Figure(
            f"web chat, connect time p50 ms, last {edge:,} (baseline: first {edge:,})",
            db,
            last_time.p50_ms,
            first_time.p50_ms,
            f"first {edge:,}",
            RatioAtMost(1.5),
            1,
        ),
        Figure(
            f"web chat, visitors connected/s, last {edge:,} (baseline: first {edge:,})",
            db,
            last_rate,
            first_rate,
            f"first {edge:,}",
        ),
    ]
    note = (
        f"connect time (session, then socket) p99: first {edge:,} {first_time.p99_ms:.0f} ms, "
        f"last {edge:,} {last_time.p99_ms:.0f} ms"
    )
    return figures, note


async def drop_handshakes(http: aiohttp.ClientSession, url: str, port: int, each: int) -> int:
    """Visitors who go away during the WebSocket handshake, three ways: mid-request, after the
    request (FIN), and after the request with a reset (RST). Answers how many dropped."""
    dropped = 0
    for kind in ("half", "close", "reset"):
        for _ in range(each):
            async with http.post(
                f"{url}/channels/chat/sessions", json={}, headers={"Origin": harness.ORIGIN}
            ) as r:
                token = (await r.json())["token"]
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /channels/chat/ws?token={token} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                f"Origin: {harness.ORIGIN}\r\n\r\n"
            ).encode()
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request[: len(request) // 2] if kind == "half" else request)
            await writer.drain()
            if kind == "reset":
                raw = writer.get_extra_info("socket")
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            dropped += 1
    return dropped


def log_faults(log: Path, since: int) -> list[str]:
    """ERROR lines, and tracebacks at any level, the daemon logged after byte `since`."""
    with log.open("rb") as file:
        file.seek(since)
        text = file.read().decode(errors="replace")
    errors = set(harness.error_lines(log, since))
    return [line for line in text.splitlines() if line in errors or "Traceback" in line]


async def replies(
    api: Api, visitors: list[Connected], seconds: float, pending: dict[str, asyncio.Future[float]]
) -> tuple[dict[str, int], list[float], list[str], float]:
    """Agents' replies to random visitors, IN_FLIGHT at a time, each waiting until its frame
    reaches the visitor; answers (visitor of each reply, latencies, failures, seconds)."""
    sent_to: dict[str, int] = {}
    latencies: list[float] = []
    failures: list[str] = []
    numbers = iter(range(10**9))
    pick = random.Random(7)
    deadline = time.monotonic() + seconds

    async def agent() -> None:
        while time.monotonic() < deadline:
            reference = f"y{next(numbers)}"
            visitor = pick.choice(visitors)
            arrived = asyncio.get_running_loop().create_future()
            pending[reference] = arrived
            sent_to[reference] = visitor.index
            started = time.monotonic()
            try:
                await api.send_text(visitor.conversation_id, f"Thanks for waiting [{reference}]")
                at = await asyncio.wait_for(arrived, LOST_AFTER)
            except (ApiError, aiohttp.ClientError) as error:
                failures.append(f"{reference}: {error}"[:300])
                continue
            except TimeoutError:
                failures.append(f"{reference}: not on the visitor's socket after {LOST_AFTER:g} s")
                continue
            latencies.append(at - started)

    started = time.monotonic()
    await asyncio.gather(*(agent() for _ in range(IN_FLIGHT)))
    return sent_to, latencies, failures, time.monotonic() - started


async def one_round(
    backend: str, folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report
) -> None:
    here = folder / backend
    db = harness.backend_name(backend)
    per = sizes.visitors // sizes.client_processes
    with harness.database(backend, here) as url:
        daemon = harness.daemon(here, url, fakes)
        clients = [
            ClientProcess(
                here / f"visitors-{k}.log",
                "hold",
                [
                    f"--url={daemon.url}",
                    f"--first={k * per}",
                    f"--visitors={per}",
                    f"--concurrency={sizes.concurrency}",
                ],
            )
            for k in range(sizes.client_processes)
        ]
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            harness.running(daemon),
        ):
            assert daemon.process is not None
            pid = daemon.process.pid
            idle_rss = rss_bytes(pid)
            try:
                for client in clients:
                    await client.start()
                for client in clients:
                    await client.read()
                meter = CpuMeter(pid)
                meter.start()
                for client in clients:
                    await client.send("connect")
                visitors = [
                    Connected(
                        v["index"], v["conversationId"], v["deflate"], v["started"], v["done"]
                    )
                    for client in clients
                    for v in (await client.read())["connected"]
                ]
                connect_cpu = meter.stop()
                connected_rss = rss_bytes(pid)

                arrivals: list[Arrival] = []
                pending: dict[str, asyncio.Future[float]] = {}

                async def listen(client: ClientProcess) -> None:
                    while True:
                        line: dict[str, Any] = await client.read()
                        arrival = Arrival(str(line["arrived"]), int(line["visitor"]), line["t"])
                        arrivals.append(arrival)
                        future = pending.get(arrival.reference)
                        if future is not None and not future.done():
                            future.set_result(arrival.at)

                listeners = [asyncio.create_task(listen(c)) for c in clients]
                meter.start()
                sent_to, latencies, failures, seconds = await replies(
                    Api(http, daemon.url), visitors, sizes.seconds, pending
                )
                reply_cpu = meter.stop()
                await asyncio.sleep(2.0)  # a reply delivered twice shows up here
                busy_rss, peak_rss = rss_bytes(pid), peak_rss_bytes(pid)

                log_mark = daemon.log.stat().st_size
                port = int(str(daemon.config.listen).rsplit(":", 1)[1])
                dropped = await drop_handshakes(http, daemon.url, port, sizes.drops)
                await asyncio.sleep(2.0)
                faults = log_faults(daemon.log, log_mark)
                for listener in listeners:
                    listener.cancel()
            finally:
                await asyncio.gather(*(c.stop() for c in clients))
        errors = harness.error_lines(daemon.log)

    latency = Latency.of_seconds(latencies)
    times = Counter(a.reference for a in arrivals)
    missing = sorted(r for r in sent_to if times[r] == 0)
    twice = sorted(r for r, n in times.items() if n > 1)
    wrong = sorted({a.reference for a in arrivals if sent_to.get(a.reference) != a.visitor})
    deflated = sum(1 for v in visitors if v.deflate)
    figures, connect_note = connect_figures(visitors, min(sizes.edge, len(visitors) // 2), db)
    report.add(
        Figure(
            f"web chat, daemon resident memory MB, {len(visitors):,} sockets",
            db,
            max(connected_rss, busy_rss) / MB,
            idle_rss / MB,
            "idle daemon",
            Below(1024),
        ),
        *figures,
        Figure(
            "web chat, reply to visitor's socket p99 ms",
            db,
            latency.p99_ms,
            None,
            "",
            Below(100),
            1,
        ),
        Figure("web chat, reply to visitor's socket p50 ms", db, latency.p50_ms, None, "", None, 1),
        Check(
            "web chat, each reply once, on the right socket",
            db,
            f"{len(sent_to):,} replies: {len(missing)} missing, {len(twice)} twice, "
            f"{len(wrong)} on another socket, {len(failures)} failed"
            + (f" ({failures[0]})" if failures else ""),
            not (missing or twice or wrong or failures),
        ),
        # Every visitor offers permessage-deflate, as browsers do; the gateway declines it
        # (a compressor per socket would cost more memory than the small frames save).
        Figure(
            f"web chat, sockets with permessage-deflate (offered by all {len(visitors):,})",
            db,
            deflated,
        ),
        Figure(
            f"web chat, ERROR lines or tracebacks after {dropped} handshake drops",
            db,
            len(faults),
            None,
            "",
            AtMost(0),
        ),
        Check("daemon log, ERROR lines", db, harness.errors_detail(errors), not errors),
    )
    report.note(
        f"web chat on {db}: {len(visitors):,} visitors from {sizes.client_processes} client "
        f"processes, {sizes.concurrency} connects in flight each; {connect_note}; daemon's "
        f"share of a core while they connected {connect_cpu:.2f}, during the replies "
        f"{reply_cpu:.2f}; {len(sent_to):,} replies in {seconds:.1f} s; peak resident memory "
        f"{peak_rss / MB:.0f} MB"
        + (f"; first fault after the drops: {harness.summary(faults[0])}" if faults else "")
    )


async def main() -> int:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    raise_open_files_limit()
    report = Report("Web chat at scale", quick=args.quick)
    report.note(
        f"replies: sendMessage through the API, {IN_FLIGHT} in flight, each waiting until its "
        f"frame reached the visitor, for {sizes.seconds:g} s"
    )
    async with harness.fakes_in_workspace(customers=0) as (folder, fakes):
        for backend in harness.backends():
            await one_round(backend, folder, sizes, fakes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
