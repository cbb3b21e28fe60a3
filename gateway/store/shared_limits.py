"""`Limits` counted in PostgreSQL, so that every node sharing the database counts alike.

Uses (`take`) are rows of `limit_uses`, each counting `uses` uses; each node's places
(`acquire`) a row of `limit_holds`. One key is counted under a transaction-scoped advisory
lock, so that uses sent to several nodes at once are counted one after the other.

A busy key is not counted in the database use by use: a node takes a *share* of what the key
has left and spends it in memory. A share of uses is one row dated when the share ends
(`SHARE_SECONDS` after it is taken), so each use it covers stays counted at least a whole
window after it happened; what is left of it when it ends is given back. Places work alike: a
node holds a few spare places and gives back what it has not used. A share starts at one use
(or place) and doubles each time a share is spent before it ends, and it is at most
1/`SHARE_FRACTION` of what the key has left: so a limit never lets more through than it allows,
keys whose limit is under `2 * SHARE_FRACTION` are counted exactly as one node counts them, and
while a node holds a share, the other nodes may be refused up to that share early.

A node renews its places every `RENEW_SECONDS`; places of a node that stopped (or died) count
for `LEASE_SECONDS` more, then are free again. Uses older than their window are deleted as the
key is counted, and those of keys gone quiet by a sweep along with the renewals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gateway.store.database import Database
from gateway.store.models import MAX_LIMIT_KEY, LimitHoldRow, LimitUseRow

T = TypeVar("T")

#: seconds a node's places count after its last renewal
LEASE_SECONDS = 90.0
#: how often a node renews its places (and sweeps old uses and dead nodes' places)
RENEW_SECONDS = 30.0
#: uses older than this are swept whatever their window (no limit counts over an hour)
FORGET_USES_AFTER = 3600.0
#: seconds a node spends a share in; then what is left of it is given back
SHARE_SECONDS = 1.0
#: a share is at most this fraction (1/N) of what its key has left
SHARE_FRACTION = 64
#: the largest share, in uses or places
MAX_SHARE = 4096

_USES = LimitUseRow.__table__  # type: ignore[attr-defined]
_HOLDS = LimitHoldRow.__table__  # type: ignore[attr-defined]

Key = tuple[str, str]


def storable_key(key: str) -> str:
    """`key` as the tables keep it: itself, or when longer than their column (a web chat
    visitor's user id may be 255 characters before its prefix) a digest of it."""
    if len(key) <= MAX_LIMIT_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _lock(conn: Connection, bucket: str, key: str) -> None:
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
        {"name": f"limits\n{bucket}\n{key}"},
    )


def _share(wanted: int, left: int) -> int:
    """The share to take of `left`: at most `wanted` and a `SHARE_FRACTION`th, at least one."""
    return max(1, min(wanted, left // SHARE_FRACTION))


@dataclass
class _Uses:
    """This node's share of one key's uses."""

    #: the `limit_uses` row counting the share (None when it was a single use)
    row: int | None = None
    left: int = 0
    ends: float = 0.0
    #: the size of the next share, and of the last one the database granted
    size: int = 1
    granted: int = 0
    #: the database refused: refuse here too until then (without asking it again) ...
    refused_until: float = 0.0
    #: ... saying that one more use is allowed then
    allowed_at: float = 0.0


@dataclass
class _Places:
    """This node's places of one key: in use, and spare (held in the database, not used)."""

    spare: int = 0
    #: the size of the next share, and of the last one the database granted
    size: int = 1
    granted: int = 0
    #: when the spare places were last touched; idle ones are given back
    touched: float = 0.0


class PostgresLimits:
    """`Limits` in the PostgreSQL database the gateway uses."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self.holder = uuid.uuid4().hex
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="limits")
        self._renewer: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self._uses: dict[Key, _Uses] = {}
        self._places: dict[Key, _Places] = {}
        #: keys whose share is being taken from the database: the others wait for it
        self._taking: dict[Key, asyncio.Future[None]] = {}

    async def _run(self, fn: Callable[[Connection], T]) -> T:
        def transaction() -> T:
            with self._db.engine.begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._threads, transaction)

    async def _one_at_a_time(self, key: Key) -> asyncio.Future[None] | None:
        """Wait while another task takes `key`'s share; the future to finish if it is ours."""
        other = self._taking.get(key)
        if other is not None:
            await asyncio.shield(other)
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._taking[key] = done
        return done

    def _done(self, key: Key, done: asyncio.Future[None]) -> None:
        del self._taking[key]
        done.set_result(None)

    async def take(self, bucket: str, key: str, *, limit: int, per_seconds: float) -> float | None:
        k = (bucket, storable_key(key))
        while True:
            share = self._uses.get(k)
            now = self._clock()
            if share is not None:
                if share.left > 0 and now < share.ends:
                    share.left -= 1
                    return None
                if now < share.refused_until:
                    return max(share.allowed_at - now, 0.001)
            done = await self._one_at_a_time(k)
            if done is not None:
                break
        try:
            return await self._take_share(k, limit, per_seconds)
        finally:
            self._done(k, done)

    async def _take_share(self, k: Key, limit: int, per_seconds: float) -> float | None:
        bucket, key = k
        share = self._uses.setdefault(k, _Uses())
        if share.granted and share.left == 0:
            share.size = min(share.granted * 2, MAX_SHARE)  # spent before it ended: busy
        elif share.left > 0:
            share.size = max(1, share.granted // 2)
        given_back = (share.row, share.left) if share.row is not None and share.left else None
        share.row, share.left = None, 0
        wanted = share.size

        def count(conn: Connection) -> tuple[int | None, int, float, float | None]:
            now = self._clock()
            _lock(conn, bucket, key)
            if given_back is not None:
                _give_back_uses(conn, *given_back)
            mine = (_USES.c.bucket == bucket) & (_USES.c.key == key)
            conn.execute(delete(_USES).where(mine, _USES.c.used_at <= now - per_seconds))
            used, oldest = conn.execute(
                select(func.coalesce(func.sum(_USES.c.uses), 0), func.min(_USES.c.used_at)).where(
                    mine
                )
            ).one()
            if used >= limit:
                return None, 0, now, max(float(oldest) + per_seconds - now, 0.001)
            size = _share(wanted, limit - int(used))
            if size == 1:  # one use, spent now: counted exactly
                conn.execute(insert(_USES).values(bucket=bucket, key=key, used_at=now, uses=1))
                return None, 0, now, None
            row = conn.execute(
                insert(_USES)
                .values(bucket=bucket, key=key, used_at=now + SHARE_SECONDS, uses=size)
                .returning(_USES.c.id)
            ).scalar_one()
            return int(row), size - 1, now, None

        row, left, now, wait = await self._run(count)
        share.granted = 0 if wait is not None else left + 1
        if wait is not None:
            # nothing frees a place here sooner but another node's share given back
            share.refused_until = now + min(wait, SHARE_SECONDS)
            share.allowed_at = now + wait
            return wait
        share.row, share.left, share.ends = row, left, now + SHARE_SECONDS
        return None

    async def acquire(self, bucket: str, key: str, *, capacity: int) -> bool:
        k = (bucket, storable_key(key))
        while True:
            places = self._places.get(k)
            if places is not None and places.spare > 0:
                places.spare -= 1
                places.touched = self._clock()
                return True
            done = await self._one_at_a_time(k)
            if done is not None:
                break
        try:
            return await self._hold_more(k, capacity)
        finally:
            self._done(k, done)

    async def _hold_more(self, k: Key, capacity: int) -> bool:
        bucket, key = k
        places = self._places.setdefault(k, _Places())
        wanted = places.size

        def hold(conn: Connection) -> int:
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
                return 0
            size = _share(wanted, capacity - int(held))
            row = {"bucket": bucket, "key": key, "holder": self.holder}
            conn.execute(
                pg_insert(_HOLDS)
                .values(**row, held=size, renewed_at=now)
                .on_conflict_do_update(
                    index_elements=["bucket", "key", "holder"],
                    set_={"held": _HOLDS.c.held + size, "renewed_at": now},
                )
            )
            return size

        size = await self._run(hold)
        if size == 0:
            return False
        places.spare += size - 1
        places.touched = self._clock()
        places.granted = size
        # all spent before asking again: busy, so ask for more (unless the key's share is capped)
        places.size = min(size * 2, MAX_SHARE) if size == wanted else size
        return True

    async def release(self, bucket: str, key: str) -> None:
        key = storable_key(key)
        places = self._places.setdefault((bucket, key), _Places())
        places.spare += 1
        places.touched = self._clock()
        # a key too small to share is given back at once; a busy one keeps a few spare
        keep = places.granted if places.granted > 1 else 0
        if places.spare > 2 * keep:
            extra = places.spare - keep
            places.spare = keep
            await self._run(lambda conn: self._give_back_places(conn, bucket, key, extra))

    def _give_back_places(self, conn: Connection, bucket: str, key: str, count: int) -> None:
        _lock(conn, bucket, key)
        mine = (
            (_HOLDS.c.bucket == bucket) & (_HOLDS.c.key == key) & (_HOLDS.c.holder == self.holder)
        )
        conn.execute(update(_HOLDS).where(mine).values(held=_HOLDS.c.held - count))
        conn.execute(delete(_HOLDS).where(mine, _HOLDS.c.held <= 0))

    async def settle(self) -> None:
        """Give back what is left of ended shares and spare places idle for a share's time."""
        now = self._clock()
        uses: list[tuple[int, int]] = []
        for k, share in list(self._uses.items()):
            if k in self._taking or now < max(share.ends, share.refused_until):
                continue
            if share.row is not None and share.left:
                uses.append((share.row, share.left))
            del self._uses[k]
        places: list[tuple[str, str, int]] = []
        for k, held in list(self._places.items()):
            if k in self._taking or now < held.touched + SHARE_SECONDS:
                continue
            if held.spare:
                places.append((*k, held.spare))
            del self._places[k]
        if not uses and not places:
            return

        def give_back(conn: Connection) -> None:
            for row, left in uses:
                _give_back_uses(conn, row, left)
            for bucket, key, count in places:
                self._give_back_places(conn, bucket, key, count)

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

    async def _settle_forever(self) -> None:
        while True:
            await asyncio.sleep(SHARE_SECONDS)
            with contextlib.suppress(Exception):  # counted a little longer; harmless
                await self.settle()

    async def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="limits-renewal")
        self._settler = asyncio.create_task(self._settle_forever(), name="limits-shares")

    async def stop(self) -> None:
        """Stop renewing and give back every place this node holds and what its shares left."""
        for task in (self._renewer, self._settler):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left = [(s.row, s.left) for s in self._uses.values() if s.row is not None and s.left]

        def give_back_all(conn: Connection) -> None:
            for row, count in left:
                _give_back_uses(conn, row, count)
            conn.execute(delete(_HOLDS).where(_HOLDS.c.holder == self.holder))

        with contextlib.suppress(Exception):  # the database may already be gone
            await self._run(give_back_all)
        self._threads.shutdown(wait=False)


def _give_back_uses(conn: Connection, row: int, count: int) -> None:
    conn.execute(update(_USES).where(_USES.c.id == row).values(uses=_USES.c.uses - count))
    conn.execute(delete(_USES).where(_USES.c.id == row, _USES.c.uses <= 0))
