"""The database: one engine, reads on worker threads, writes through the group-commit writer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

from gateway.store.files import keep_private, sqlite_path
from gateway.store.writer import (
    AT_ONCE,
    TAKE_WRITE_LOCK,
    WAIT,
    BatchHandler,
    GroupCommitWriter,
)
from gateway.store.writer import unreachable as unreachable

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item a batched write carries


#: seconds to wait for a PostgreSQL connection before the database counts as unreachable
CONNECT_TIMEOUT = 5
#: seconds a client is asked to wait (Retry-After) while the database cannot be reached
RETRY_AFTER_SECONDS = 5
#: how long a SQLite statement waits for a lock another connection holds
BUSY_TIMEOUT_MS = 30_000
#: seconds a closed PostgreSQL connection's server process still counts as this node's
CLOSED_BACKENDS_KEPT_SECONDS = 60.0


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled: a warning line while the database is away (whoever
    failed tries again later), an ERROR with its traceback for anything else."""
    error = sys.exc_info()[1]
    if error is not None and unreachable(error):
        logger.warning(message + ": the database cannot be reached", *args)
    else:
        logger.exception(message, *args)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a configured database URL (PostgreSQL through psycopg 3)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(engine_url(url)).get_backend_name() == "sqlite"


def json_text(value: Any) -> str:
    """A JSON column's value as stored: orjson, because every message and event is one."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


#: how JSON columns are written and read, on both backends
JSON_CODEC: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def create_db_engine(url: str) -> Engine:
    """An engine tuned for the backend: SQLite in WAL mode with real transactions."""
    sa_url = engine_url(url)
    if not is_sqlite(url):
        # pool_pre_ping replaces the connections a database restart cut, so the gateway
        # carries on by itself once the server is back; connect_timeout keeps /readyz and
        # every request prompt while the server cannot be reached at all.
        return create_engine(
            sa_url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            connect_args={"connect_timeout": CONNECT_TIMEOUT},
            **JSON_CODEC,
        )
    path = sqlite_path(sa_url)
    if path is not None:
        keep_private(path)
    engine = create_engine(
        sa_url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        **JSON_CODEC,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the WAL at every commit, so a commit survives a power cut, not only a
        # killed process; with group commit that is one fsync per batch of requests.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # The writer takes the write lock up front, so that its statements never wait for it;
        # AT_ONCE fails with SQLITE_BUSY instead of waiting while another connection holds it.
        take = connection.get_execution_options().get(TAKE_WRITE_LOCK)
        if take is None:
            connection.exec_driver_sql("BEGIN")
        elif take == AT_ONCE:
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        elif take == WAIT:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            raise ValueError(f"{TAKE_WRITE_LOCK} is {WAIT!r} or {AT_ONCE!r}, not {take!r}")

    return engine


class Database:
    """Reads run on a small thread pool; every write goes through one group-commit writer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = create_db_engine(url)
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db-read")
        self.writer = GroupCommitWriter(self.engine)
        #: on PostgreSQL, the server processes of this node's open connections, by connection,
        #: and of those it closed lately, with when: a notification sent by one is its own
        self._backends: dict[int, int] = {}
        self._closed_backends: dict[int, float] = {}
        self._backends_lock = threading.Lock()  # connections open and close on many threads
        if not self.sqlite:
            event.listen(self.engine, "connect", self._opened)
            event.listen(self.engine, "close", self._closed)
            event.listen(self.engine, "invalidate", self._lost)

    def _opened(self, dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        with self._backends_lock:
            self._backends[id(dbapi_connection)] = dbapi_connection.info.backend_pid

    def _closed(self, dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        # A notification its last commit sent may arrive after the pool closed it (one of
        # the pool's overflow connections, closed as it is given back): it is still ours.
        closed = time.monotonic()
        with self._backends_lock:
            backend_pid = self._backends.pop(id(dbapi_connection), None)
            if backend_pid is not None:
                self._closed_backends[backend_pid] = closed
            for pid, when in list(self._closed_backends.items()):
                if closed - when > CLOSED_BACKENDS_KEPT_SECONDS:
                    del self._closed_backends[pid]

    def _lost(self, dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        self._closed(dbapi_connection, record)

    def sent_by_this_node(self, backend_pid: int) -> bool:
        """Whether the PostgreSQL server process `backend_pid` serves, or lately served, one
        of this node's connections (the server gives a process number to another
        connection only once this one's has ended)."""
        with self._backends_lock:
            return backend_pid in self._backends.values() or backend_pid in self._closed_backends

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        """Flush pending writes, then close every connection."""
        await self.writer.stop()
        self._readers.shutdown(wait=True)
        self.engine.dispose()

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` with a read session on a worker thread."""

        def run() -> T:
            with Session(self.engine, expire_on_commit=False) as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def write(
        self, fn: Callable[[Session], T], *, quiet: bool = False, background: bool = False
    ) -> T:
        """Run `fn` in the next group commit; returns once it is committed.

        `quiet`: `fn` appends no event and makes no delivery due (bookkeeping, such as a
        lease), so its commit wakes neither the live feed nor the dispatcher.
        `background`: no request waits on `fn`, so it is committed after the writes that
        requests wait on.
        """
        return await self.writer.submit(fn, quiet=quiet, background=background)

    async def write_batched(self, handler: BatchHandler[I, T], item: I) -> T:
        """Write `item` in the next group commit, with the other items of the same handler."""
        return await self.writer.submit_batched(handler, item)

    async def ping(self) -> bool:
        try:
            await self.read(lambda s: s.exec(text("SELECT 1")))  # type: ignore[call-overload]
        except Exception:
            return False
        return True
