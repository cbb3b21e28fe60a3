"""`Limits` counted in PostgreSQL, so that every node sharing the database counts alike.

Each use (`take`) is a row of `limit_uses`, and each node's places (`acquire`) a row of
`limit_holds`; one key is counted under a transaction-scoped advisory lock, so that uses sent
to several nodes at once are counted one after the other. A node renews its places every
`RENEW_SECONDS`; places of a node that stopped (or died) count for `LEASE_SECONDS` more, then
are free again. Uses older than their window are deleted as the key is counted, and those of
keys gone quiet by a sweep along with the renewals.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gateway.store.database import Database
from gateway.store.models import LimitHoldRow, LimitUseRow

T = TypeVar("T")

#: seconds a node's places count after its last renewal
LEASE_SECONDS = 90.0
#: how often a node renews its places (and sweeps old uses and dead nodes' places)
RENEW_SECONDS = 30.0
#: uses older than this are swept whatever their window (no limit counts over an hour)
FORGET_USES_AFTER = 3600.0

_USES = LimitUseRow.__table__  # type: ignore[attr-defined]
_HOLDS = LimitHoldRow.__table__  # type: ignore[attr-defined]


def _lock(conn: Connection, bucket: str, key: str) -> None:
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
        {"name": f"limits\n{bucket}\n{key}"},
    )


class PostgresLimits:
    """`Limits` in the PostgreSQL database the gateway uses."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self.holder = uuid.uuid4().hex
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="limits")
        self._renewer: asyncio.Task[None] | None = None

    async def _run(self, fn: Callable[[Connection], T]) -> T:
        def transaction() -> T:
            with self._db.engine.begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._threads, transaction)

    async def take(self, bucket: str, key: str, *, limit: int, per_seconds: float) -> float | None:
        def count(conn: Connection) -> float | None:
            now = self._clock()
            _lock(conn, bucket, key)
            mine = (_USES.c.bucket == bucket) & (_USES.c.key == key)
            conn.execute(delete(_USES).where(mine, _USES.c.used_at <= now - per_seconds))
            used, oldest = conn.execute(
                select(func.count(), func.min(_USES.c.used_at)).where(mine)
            ).one()
            if used >= limit:
                return max(float(oldest) + per_seconds - now, 0.001)
            conn.execute(insert(_USES).values(bucket=bucket, key=key, used_at=now))
            return None

        return await self._run(count)

    async def acquire(self, bucket: str, key: str, *, capacity: int) -> bool:
        def hold(conn: Connection) -> bool:
            now = self._clock()
            _lock(conn, bucket, key)
            held = conn.execute(
                select(func.coalesce(func.sum(_HOLDS.c.held), 0)).where(
                    _HOLDS.c.bucket == bucket,
                    _HOLDS.c.key == key,
                    _HOLDS.c.renewed_at > now - LEASE_SECONDS,
                )
            ).scalar_one()
            if int(held) >= capacity:
                return False
            row = {"bucket": bucket, "key": key, "holder": self.holder}
            conn.execute(
                pg_insert(_HOLDS)
                .values(**row, held=1, renewed_at=now)
                .on_conflict_do_update(
                    index_elements=["bucket", "key", "holder"],
                    set_={"held": _HOLDS.c.held + 1, "renewed_at": now},
                )
            )
            return True

        return await self._run(hold)

    async def release(self, bucket: str, key: str) -> None:
        def give_back(conn: Connection) -> None:
            _lock(conn, bucket, key)
            mine = (
                (_HOLDS.c.bucket == bucket)
                & (_HOLDS.c.key == key)
                & (_HOLDS.c.holder == self.holder)
            )
            conn.execute(update(_HOLDS).where(mine).values(held=_HOLDS.c.held - 1))
            conn.execute(delete(_HOLDS).where(mine, _HOLDS.c.held <= 0))

        await self._run(give_back)

    async def renew(self) -> None:
        """Renew this node's places; forget dead nodes' places and uses past any window."""

        def renew_(conn: Connection) -> None:
            now = self._clock()
            conn.execute(
                update(_HOLDS).where(_HOLDS.c.holder == self.holder).values(renewed_at=now)
            )
            conn.execute(delete(_HOLDS).where(_HOLDS.c.renewed_at <= now - LEASE_SECONDS))
            conn.execute(delete(_USES).where(_USES.c.used_at <= now - FORGET_USES_AFTER))

        await self._run(renew_)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            with contextlib.suppress(Exception):  # the next round tries again
                await self.renew()

    async def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="limits-renewal")

    async def stop(self) -> None:
        """Stop renewing and give back every place this node holds."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        with contextlib.suppress(Exception):  # the database may already be gone
            await self._run(
                lambda conn: conn.execute(delete(_HOLDS).where(_HOLDS.c.holder == self.holder))
            )
        self._threads.shutdown(wait=False)
