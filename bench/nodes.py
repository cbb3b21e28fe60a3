"""Nodes on one PostgreSQL: how long an agent's reply sent through node A takes to reach a web
chat visitor connected to node B, against the same reply sent through node B itself.

    python -m bench.nodes [--quick]

Two daemons (`inbox-gateway run`) share one fresh PostgreSQL database; visitors connect to
node B as the widget does (a session, then the socket). Replies go out one at a time through
the REST API of node A (the figure) and of node B (the baseline), each to a random visitor,
and each is timed from the API call to its frame's arrival on the visitor's socket. Other
nodes learn of the reply through PostgreSQL's NOTIFY. Needs INBOX_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import harness
from bench.api import Api
from bench.cli import options
from bench.report import Below, Check, Figure, Report
from bench.stats import CpuMeter, Latency
from tests.support import Daemon
from tests.support.databases import POSTGRES_ENV

#: visitors connected to node B
VISITORS = 32
#: seconds a reply may take to reach its visitor before it counts as lost
LOST_AFTER = 10.0
REFERENCE = re.compile(r"\[(r\d+)\]")


@dataclass(frozen=True)
class Sizes:
    #: replies through each node
    replies: int


DEFAULT = Sizes(100)
QUICK = Sizes(20)


@dataclass
class Visitors:
    """Sockets on node B, and when each reply reached which of them."""

    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    arrivals: list[tuple[str, int, float]] = field(default_factory=list)
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    async def connect(self, http: aiohttp.ClientSession, node: Daemon, count: int) -> None:
        origin = {"Origin": harness.ORIGIN}
        for _ in range(count):
            async with http.post(
                f"{node.url}/channels/chat/sessions", json={}, headers=origin
            ) as r:
                session = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"POST sessions answered {r.status}: {session}")
            socket = await http.ws_connect(
                f"{node.url}/channels/chat/ws", params={"token": session["token"]}, headers=origin
            )
            self.sockets.append(socket)
            self.conversations.append(str(session["conversationId"]))

    async def hold(self, index: int) -> None:
        """Note every reply that reaches visitor `index`, as it arrives."""
        async for message in self.sockets[index]:
            if message.type is not aiohttp.WSMsgType.TEXT:
                return
            at = time.monotonic()
            frame = json.loads(message.data)
            stored = frame.get("message") if frame.get("type") == "message" else None
            if not isinstance(stored, dict):
                continue
            items = stored.get("content", {}).get("basic", {}).get("items", [{}])
            found = REFERENCE.search(str(items[0].get("text", "")))
            if found is None:
                continue
            self.arrivals.append((found.group(1), index, at))
            waiter = self.waiting.get(found.group(1))
            if waiter is not None and not waiter.done():
                waiter.set_result(at)


async def replies(
    api: Api, visitors: Visitors, count: int, first: int, sent_to: dict[str, int]
) -> tuple[list[float], list[str]]:
    """`count` replies through `api`, one at a time; answers latencies and failures."""
    pick = random.Random(first)
    latencies: list[float] = []
    failures: list[str] = []
    for n in range(first, first + count):
        reference = f"r{n}"
        index = pick.randrange(len(visitors.sockets))
        arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        visitors.waiting[reference] = arrived
        sent_to[reference] = index
        started = time.monotonic()
        try:
            await api.send_text(visitors.conversations[index], f"Thanks for waiting [{reference}]")
            latencies.append(await asyncio.wait_for(arrived, LOST_AFTER) - started)
        except TimeoutError:
            failures.append(f"{reference}: not on the visitor's socket after {LOST_AFTER:g} s")
        except Exception as error:
            failures.append(f"{reference}: {error}"[:300])
    return latencies, failures


async def measure(folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report) -> None:
    db = harness.backend_name("postgres")
    with harness.database("postgres", folder) as url:
        a = harness.daemon(folder / "a", url, fakes)
        b = harness.daemon(folder / "b", url, fakes)
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            harness.running(a),
            harness.running(b),
        ):
            assert a.process is not None and b.process is not None
            visitors = Visitors()
            await visitors.connect(http, b, VISITORS)
            holders = [asyncio.create_task(visitors.hold(i)) for i in range(VISITORS)]
            meters = [CpuMeter(a.process.pid), CpuMeter(b.process.pid)]
            for meter in meters:
                meter.start()
            sent_to: dict[str, int] = {}
            across, across_failed = await replies(
                Api(http, a.url), visitors, sizes.replies, 0, sent_to
            )
            same, same_failed = await replies(
                Api(http, b.url), visitors, sizes.replies, sizes.replies, sent_to
            )
            cpu = [meter.stop() for meter in meters]
            await asyncio.sleep(1.0)  # a reply delivered twice shows up here
            for holder in holders:
                holder.cancel()
            await asyncio.gather(*(s.close() for s in visitors.sockets))
        errors = harness.error_lines(a.log) + harness.error_lines(b.log)

    through_a, through_b = Latency.of_seconds(across), Latency.of_seconds(same)
    times = Counter(reference for reference, _, _ in visitors.arrivals)
    missing = sorted(r for r in sent_to if times[r] == 0)
    twice = sorted(r for r, n in times.items() if n > 1)
    wrong = sorted({r for r, index, _ in visitors.arrivals if sent_to.get(r) != index})
    failures = across_failed + same_failed
    report.add(
        Figure(
            "reply through node A to a visitor on node B, p99 ms",
            db,
            through_a.p99_ms,
            through_b.p99_ms,
            "through node B",
            Below(200),
            1,
        ),
        Figure(
            "reply through node A to a visitor on node B, p50 ms",
            db,
            through_a.p50_ms,
            through_b.p50_ms,
            "through node B",
            None,
            1,
        ),
        Check(
            "each reply once, on the right socket",
            db,
            f"{len(sent_to):,} replies: {len(missing)} missing, {len(twice)} twice, "
            f"{len(wrong)} on another socket, {len(failures)} failed"
            + (f" ({failures[0]})" if failures else ""),
            not (missing or twice or wrong or failures),
        ),
        Check("daemons' logs, ERROR lines", db, harness.errors_detail(errors), not errors),
    )
    report.note(
        f"two nodes on one database; {VISITORS} visitors connected to node B; "
        f"{sizes.replies} replies through each node, one at a time, to random visitors; "
        f"worst reply through node A {through_a.max_ms:.0f} ms; share of a core: node A "
        f"{cpu[0]:.2f}, node B {cpu[1]:.2f}"
    )


async def main() -> int:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    report = Report("Nodes on one PostgreSQL", quick=args.quick)
    if not os.environ.get(POSTGRES_ENV):
        print(f"bench.nodes: needs PostgreSQL ({POSTGRES_ENV}); nothing measured", file=sys.stderr)
        return 0
    async with harness.fakes_in_workspace(customers=0) as (folder, fakes):
        await measure(folder, sizes, fakes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
