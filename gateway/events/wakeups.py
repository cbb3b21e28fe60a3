"""Wake-ups from other nodes: on PostgreSQL, a LISTEN on the NOTIFY channels of the outbox
and of queued sends.

Each statement that appends outbox events NOTIFYs `CHANNEL` with the highest event number it
appended (a trigger, migration 0011), and each transaction that queues sends, or lets go of
the claim on one that is due, NOTIFYs `SENDS_CHANNEL` (`tell_sends_queued`); each is
delivered when, and only if, its transaction commits. One dedicated connection per node
LISTENs and hands each event number to the feed, and each sends notification with the
server process that sent it (which tells this node's own from another's). When that
connection drops, the node says so, polls meanwhile, and connects again by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from gateway.store.database import engine_url

log = logging.getLogger(__name__)

#: the channel the outbox trigger notifies (migration 0011 names it too)
CHANNEL = "inbox_events"
#: the channel a transaction that queued sends notifies
SENDS_CHANNEL = "inbox_sends"
_TELL_SENDS_QUEUED = text(f"SELECT pg_notify('{SENDS_CHANNEL}', '')")
#: seconds between attempts to connect again, growing to the last
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
#: the listening connection's name in pg_stat_activity
APPLICATION_NAME = "inbox-gateway listen"
#: its name, and TCP keepalives, so that a connection the network silently dropped is noticed
OPTIONS: dict[str, str | int] = {
    "application_name": APPLICATION_NAME,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def tell_sends_queued(session: Session) -> None:
    """On PostgreSQL, tell the other nodes' dispatchers, once the session's transaction
    commits, that it queued sends (or let go of the claim on a due one): while what their
    last look found waits for its pace, they look again only when told. One statement per
    write that stores sends, not a trigger per row: a trigger on every delivery inserted
    lengthened the writer's transactions by a tenth in an outbound load. SQLite needs
    nothing: one process owns the file, and hands its dispatcher every send it stores."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_TELL_SENDS_QUEUED)


def conninfo(url: str) -> str:
    """The listening connection's psycopg string for a configured PostgreSQL URL."""
    plain = make_url(engine_url(url)).set(drivername="postgresql")
    return make_conninfo(plain.render_as_string(hide_password=False), **OPTIONS)


class OutboxWakeups:
    """LISTENs for nodes' outbox events, `woken(seq)` for each notification, and for their
    queued sends, `sends_queued(backend_pid)` for each."""

    def __init__(
        self,
        url: str,
        woken: Callable[[int], None],
        listening: Callable[[bool], None],
        sends_queued: Callable[[int], None],
    ) -> None:
        self._conninfo = conninfo(url)
        self._woken = woken
        self._listening = listening
        self._sends_queued = sends_queued
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            problem = "the connection ended"
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}".strip()
            if self.connected or failures == 0:
                failures = 0
                log.warning(
                    "not listening for other nodes' events (%s); reading the outbox every "
                    "second until the connection is back",
                    problem,
                )
            self._set(False)
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
            failures += 1

    async def _listen(self) -> None:
        connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        async with connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            await connection.execute(f"LISTEN {SENDS_CHANNEL}")
            self._set(True)
            async for notice in connection.notifies():
                if notice.channel == SENDS_CHANNEL:
                    self._sends_queued(notice.pid)
                    continue
                try:
                    seq = int(notice.payload or 0)
                except ValueError:
                    seq = 0
                self._woken(seq)

    def _set(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            log.info("listening for other nodes' events")
        self._listening(connected)
