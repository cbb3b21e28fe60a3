"""Capacity: what one message costs the database — statements, commits, rows and bytes —
for an inbound SMS, an API send until the provider has it, and a status callback.

    python -m bench.capacity [--quick]

These are the inputs of the README's capacity model (Scaling): they do not depend on the
machine, only on the gateway's write path, so they say how a database must grow with the
traffic. The gateway runs in this process (the same application `inbox-gateway run` serves)
so that every statement its engine sends is counted (SQLAlchemy's cursor events); the
loads come through its public surface: signed Twilio webhooks from the Twilio fake, and
`sendMessage` through the REST API. Customers have written once before the load, as in
the inbound bench, so what is counted is a message in an existing conversation.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine, event, text
from sqlalchemy.pool import Pool

from adapters.twilio.fake import FakeTwilio
from bench import harness
from bench.api import Api
from bench.cli import options
from bench.harness import TOKEN
from bench.report import commit, machine, table
from tests.support import GatewayConfig, start_gateway, twilio_channel
from tests.support.polling import eventually

IN_FLIGHT = 64


@dataclass
class Counts:
    """What the database was asked to do so far."""

    #: statements executed (SQLite: every execution, each row of an executemany counted;
    #: PostgreSQL: None, the server keeps no count without pg_stat_statements)
    statements: int | None = 0
    #: rows inserted, updated or deleted
    written_rows: int = 0
    #: committed transactions (reads included)
    commits: int = 0

    def minus(self, other: Counts) -> Counts:
        statements = None
        if self.statements is not None and other.statements is not None:
            statements = self.statements - other.statements
        return Counts(
            statements, self.written_rows - other.written_rows, self.commits - other.commits
        )


class SqliteTrace:
    """Counts what every SQLite connection opened from now on executes (sqlite3's trace
    callback sees each statement as SQLite runs it, also inside executemany and the raw
    driver calls the write path makes)."""

    def __init__(self) -> None:
        self.counts = Counts()
        event.listen(Pool, "connect", self._connected)

    def _connected(self, connection: Any, record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.set_trace_callback(self._traced)

    def _traced(self, statement: str) -> None:
        verb = statement.lstrip()[:6].upper()
        self.counts.statements = (self.counts.statements or 0) + 1
        if verb in ("INSERT", "UPDATE", "DELETE"):
            self.counts.written_rows += 1
        elif verb == "COMMIT":
            self.counts.commits += 1

    def snapshot(self) -> Counts:
        return Counts(**vars(self.counts))

    def close(self) -> None:
        event.remove(Pool, "connect", self._connected)


def postgres_counts(engine: Engine) -> Counts:
    """The server's own counters for this database (its statistics lag by up to a second)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = connection.execute(
            text(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted"
                " FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    return Counts(None, int(row[1]), int(row[0]))


def database_bytes(engine: Engine, url: str) -> int:
    """The database's size on disk (SQLite: after a checkpoint folds the WAL in)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            size = connection.execute("PRAGMA page_size").fetchone()[0]
            return int(pages) * int(size)
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).one()[0])


async def in_flight(jobs: list[Callable[[], Awaitable[Any]]]) -> None:
    """Run `jobs`, IN_FLIGHT at a time."""
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


@dataclass
class Row:
    what: str
    database: str
    per: int
    counts: Counts
    grown: int

    def cells(self) -> list[str]:
        n = self.per
        return [
            self.what,
            self.database,
            f"{n:,}",
            "—" if self.counts.statements is None else f"{self.counts.statements / n:.1f}",
            f"{self.counts.written_rows / n:.1f}",
            f"{self.counts.commits / n:.2f}",
            f"{self.grown / n:,.0f}",
        ]


async def measure(backend: str, folder: Path, messages: int, customers: int) -> list[Row]:
    fake = FakeTwilio()
    await fake.start()
    with harness.database(backend, folder / backend) as url:
        config = GatewayConfig(
            database_url=url,
            tokens={"bench": TOKEN},
            channels=[twilio_channel(fake=fake, rate_per_second=0)],
        )
        trace = SqliteTrace() if backend == "sqlite" else None
        live = await start_gateway(config, access_log=False)
        name = harness.backend_name(backend)
        engine = live.gateway.db.engine

        def counts() -> Counts:
            return trace.snapshot() if trace is not None else postgres_counts(engine)

        inbound = live.url + "/channels/sms/inbound"
        phones = [f"+1555{n:07d}" for n in range(customers)]
        rows: list[Row] = []
        try:
            await in_flight([partial(fake.post_inbound, inbound, p, "hello") for p in phones])

            async def phase(what: str, work: Callable[[], Awaitable[None]], per: int) -> None:
                await asyncio.sleep(2)  # the previous phase's writes settle, statistics too
                before, size = counts(), database_bytes(engine, url)
                await work()
                await asyncio.sleep(2)
                grown = database_bytes(engine, url) - size
                rows.append(Row(what, name, per, counts().minus(before), grown))

            async def receive() -> None:
                await in_flight(
                    [
                        partial(fake.post_inbound, inbound, phones[n % customers], f"m {n}")
                        for n in range(messages)
                    ]
                )

            await phase("inbound SMS", receive, messages)

            async with aiohttp.ClientSession() as http:
                api = Api(http, live.url)
                conversations = [c["id"] for c in await api.conversations()]

                async def send() -> None:
                    already = len(fake.sent)
                    await in_flight(
                        [
                            partial(api.send_text, conversations[n % len(conversations)], "ok")
                            for n in range(messages)
                        ]
                    )
                    await eventually(lambda: len(fake.sent) >= already + messages, timeout=600)

                await phase("sendMessage until sent", send, messages)

            sids = [str(m["sid"]) for m in fake.sent[-messages:]]

            status = live.url + "/channels/sms/status"

            async def statuses() -> None:
                await in_flight([partial(fake.post_status, status, s, "delivered") for s in sids])

            await phase("status callback", statuses, messages)
        finally:
            await live.stop()
            await fake.stop()
            if trace is not None:
                trace.close()
        return rows


async def main() -> None:
    args = options(__doc__ or "")
    messages, customers = (200, 50) if args.quick else (2000, 500)
    found: list[Row] = []
    with harness.workspace() as folder:
        for backend in harness.backends():
            found += await measure(backend, folder, messages, customers)
    headers = [
        "per message",
        "database",
        "messages",
        "statements",
        "rows written",
        "commits",
        "bytes",
    ]
    where = f"{machine().describe()}, commit {commit()}"
    print(f"## Capacity: what a message costs the database ({where})")
    print(table(headers, [row.cells() for row in found]))
    print(
        "Statements: every statement SQLite ran, reads included (PostgreSQL keeps no count"
        " without pg_stat_statements). Rows written and commits: SQLite's trace, PostgreSQL's"
        " pg_stat_database; commits are group commits (reads' transactions too), so they"
        " shrink as the load grows. Bytes: the database's growth, tables and indexes."
    )


if __name__ == "__main__":
    asyncio.run(main())
