"""Group commit: many requests' writes share one transaction, each answered after its commit."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item a batched job carries
log = logging.getLogger(__name__)

#: the most jobs one transaction takes; more wait for the next commit
MAX_BATCH = 256
#: where batched jobs list the outbox rows they appended (session.info key)
ANNOUNCED = "announced"
#: set (session.info key) when a row was appended to the outbox the ORM's way, which the
#: commit's news does not list: the live feed then reads the table for it
UNLISTED = "unlisted"
#: times a batch that lost a lock conflict to another node's transaction is run again
CONFLICT_RETRIES = 5
#: PostgreSQL's SQLSTATEs of a transaction chosen to give way: deadlock, serialization failure
_GIVE_WAY = frozenset({"40P01", "40001"})


#: an execution option: begin the transaction with SQLite's write lock (`BEGIN IMMEDIATE`),
#: waiting for it (`WAIT`) or only when it is free (`AT_ONCE`, else SQLITE_BUSY at once)
TAKE_WRITE_LOCK = "take_write_lock"
WAIT = "wait"
AT_ONCE = "at once"


async def _off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn` on a worker thread; a cancelled caller still waits for it to end, since it uses
    the caller's session."""
    done = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await asyncio.wait([done])
        raise


def gave_way(error: BaseException) -> bool:
    """Whether `error` is the database ending a transaction to resolve a lock conflict: the
    same writes succeed when run again."""
    original = error.orig if isinstance(error, DBAPIError) else error
    return getattr(original, "sqlstate", None) in _GIVE_WAY


def connection_lost(error: BaseException) -> bool:
    """Whether `error` is the database connection dying under a statement (server stopped,
    restarted, network cut): nothing more can be done on that transaction."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be used right now (down, restarting, cut off),
    rather than that the gateway asked it something wrong."""
    return connection_lost(error) or isinstance(error, OperationalError)


def _write_lock_at_once(session: Session) -> bool:
    """Begin the session's transaction with SQLite's write lock if it is free; False (and
    no transaction) when another connection holds it."""
    try:
        session.connection(execution_options={TAKE_WRITE_LOCK: AT_ONCE})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
            raise
        session.rollback()
        return False
    return True


class _GaveWay(Exception):
    """A job of the batch lost a lock conflict; the batch was rolled back to run again."""


@dataclass(frozen=True)
class BatchHandler(Generic[I, T]):
    """Writes many jobs' items with a few statements: `run(session, items)` → one result each.

    When the whole group fails (say, another node stored one of the items first), each item
    is run again alone, so only the item at fault fails. `background` items are committed
    after the others (see `GroupCommitWriter`).
    """

    name: str
    run: Callable[[Session, list[I]], list[T]]
    background: bool = False
    #: False when `run` may also append events the ORM's way (`outbox.emit`), which the
    #: commit's news then does not list, or make deliveries due, as plain jobs may
    announces_all: bool = True


@dataclass(frozen=True)
class Committed:
    """What one group commit stored, for those who follow the outbox."""

    #: the outbox rows that batched jobs appended, in outbox order
    events: list[Any]
    #: False when other jobs ran too, whose events are not listed (read them from the table)
    #: and which may have made deliveries due; quiet jobs (bookkeeping) do neither
    complete: bool


@dataclass
class _Job:
    fn: Callable[[Session], Any] | None
    future: asyncio.Future[Any]
    handler: BatchHandler[Any, Any] | None = None
    item: Any = None
    #: the job appends no event and makes no delivery due
    quiet: bool = False
    #: nobody waits on the job to answer a request: it is committed after those who do
    background: bool = False


#: told of each transaction the writer ran: (background, jobs, seconds it took, retries included)
Settled = Callable[[bool, int, float], None]


class WriterClosed(RuntimeError):
    """The writer was stopped; the write was not attempted."""


class GroupCommitWriter:
    """One task drains the queue: each batch runs in one transaction.

    Every job runs in its own SAVEPOINT, so a job that fails (say, a unique-key conflict)
    is rolled back alone and its caller gets the exception, while the rest of the batch
    commits. After the batch is committed the callbacks run (`on_commit`), which is how the
    live feeds learn of new events. Background jobs (the dispatcher's bookkeeping) taken
    with a batch are committed in a transaction of their own right after it, so that the
    requests waiting on the batch are answered without waiting for them.

    On PostgreSQL a batch runs on a worker thread, since each statement waits for the
    server. On SQLite its statements run on the event loop's thread and only what waits (the
    write lock while another process holds it, the commit's fsync) on a worker's
    (`_commit_on_loop`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.on_commit: list[Callable[[Committed], None]] = []
        #: told of every transaction, committed or not (the writer's busy time, for metrics)
        self.on_settled: list[Settled] = []
        self.batches = 0
        self.jobs = 0

    @property
    def statements_on_loop(self) -> bool:
        """Whether a batch's statements run on the event loop's thread (SQLite)."""
        return self.engine.dialect.name == "sqlite"

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        self._closing = True
        await self._queue.put(None)
        await self._task
        self._task = None

    async def submit(
        self, fn: Callable[[Session], T], *, quiet: bool = False, background: bool = False
    ) -> T:
        """Run `fn` in the next group commit; `quiet` when it appends no event and makes no
        delivery due, so that its commit wakes none of those who follow the outbox;
        `background` when no request waits on it."""
        future: asyncio.Future[T] = self._future()
        self._queue.put_nowait(_Job(fn, future, quiet=quiet, background=background))
        return await future

    async def submit_batched(self, handler: BatchHandler[I, T], item: I) -> T:
        """Write `item` in the next group commit, together with the other items of `handler`."""
        future: asyncio.Future[T] = self._future()
        self._queue.put_nowait(_Job(None, future, handler, item, background=handler.background))
        return await future

    def _future(self) -> asyncio.Future[Any]:
        """The future a new job's caller waits on; refused once the writer stops."""
        if self._closing or self._task is None:
            raise WriterClosed("the database writer is not running")
        return asyncio.get_running_loop().create_future()

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[_Job] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < MAX_BATCH and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    continue
                batch.append(job)
            for part in (
                [job for job in batch if not job.background],
                [job for job in batch if job.background],
            ):
                if part:
                    await self._settle(part)

    async def _settle(self, batch: list[_Job]) -> None:
        """Commit the batch, answer its jobs, then tell those who follow the outbox."""
        started = time.perf_counter()
        try:
            results, news = await self._commit_retrying(batch)
        except Exception as exc:  # the commit itself failed: nobody's write landed
            if unreachable(exc):
                # Each caller says so its own way (503, the spool, a later try).
                log.warning("group commit failed: the database cannot be reached: %s", exc)
            else:
                log.exception("group commit failed")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            # the writer was busy with the batch whether or not it committed
            self._tell_settled(batch, started)
        self.batches += 1
        self.jobs += len(batch)
        for job, (ok, value) in zip(batch, results, strict=True):
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
        for callback in self.on_commit:
            try:
                callback(news)
            except Exception:
                log.exception("on_commit callback failed")

    def _tell_settled(self, batch: list[_Job], started: float) -> None:
        seconds = time.perf_counter() - started
        for callback in self.on_settled:
            try:
                callback(batch[0].background, len(batch), seconds)
            except Exception:
                log.exception("on_settled callback failed")

    async def _commit_retrying(self, batch: list[_Job]) -> tuple[list[tuple[bool, Any]], Committed]:
        """Commit the batch; when another node's transaction and this one wait for each other
        (several nodes appending to the same conversations), PostgreSQL ends one of them: that
        one is run again, whole, after a short random pause, instead of failing its callers."""
        if self.statements_on_loop:
            return await self._commit_on_loop(batch)  # SQLite's one writer never gives way
        loop = asyncio.get_running_loop()
        for attempt in range(CONFLICT_RETRIES):
            try:
                return await loop.run_in_executor(None, self._commit, batch, False)
            except _GaveWay:
                log.info("a group commit gave way to another node's transaction; again")
                await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        return await loop.run_in_executor(None, self._commit, batch, True)

    def _commit(
        self, batch: list[_Job], last_try: bool
    ) -> tuple[list[tuple[bool, Any]], Committed]:
        # No lock: the writer's one task awaits each batch before it takes the next, so no
        # two batches ever run at once, on a worker thread or on the event loop.
        with Session(self.engine, expire_on_commit=False) as session:
            results, news = self._run_batch(session, batch, last_try)
            session.commit()
        return results, news

    async def _commit_on_loop(self, batch: list[_Job]) -> tuple[list[tuple[bool, Any]], Committed]:
        """Commit the batch with its statements run here, on the event loop's thread.

        SQLite's calls are short, but the driver lets go of the interpreter lock around each
        of them (a few per message), and a writer thread then waited for the event loop to
        let go of it in turn before its next statement: in an inbound SMS load the batch took
        twice as long in the daemon as alone, and the requests behind it waited. Here no one
        waits for the interpreter lock. What does wait runs on a worker thread, so that the
        event loop serves requests meanwhile: the write lock (`BEGIN IMMEDIATE`, which
        another process may hold; once taken, SQLite's statements never wait for a lock) and
        the commit, with its fsync. The write lock is first asked for here, without waiting:
        it is free unless another process writes, and handing the wait to a thread costs the
        batch the time the event loop takes to come back to it (a few ms under load, during
        which requests queue behind the batch).
        """
        with Session(self.engine, expire_on_commit=False) as session:
            # Background jobs wait on a thread even for a free lock: the event loop's turn
            # meanwhile lets the requests just answered by the batch before go out first.
            # (`_run` settles background jobs apart, so the first job speaks for the batch.)
            if batch[0].background or not _write_lock_at_once(session):
                await _off_loop(session.connection, execution_options={TAKE_WRITE_LOCK: WAIT})
            results, news = self._run_batch(session, batch, last_try=True)
            await _off_loop(session.commit)
        return results, news

    def _run_batch(
        self, session: Session, batch: list[_Job], last_try: bool
    ) -> tuple[list[tuple[bool, Any]], Committed]:
        """Run the batch's jobs in the session's transaction, which the caller commits."""
        # Batched jobs go first, one group per handler, so that the events they announce
        # come before those of the other jobs (which the feed reads from the table).
        groups: dict[str, list[_Job]] = {}
        for job in batch:
            if job.handler is not None:
                groups.setdefault(job.handler.name, []).append(job)
        outcome: dict[int, tuple[bool, Any]] = {}
        session.info[ANNOUNCED] = []
        for number, jobs in enumerate(groups.values()):
            # (on SQLite, rolling the transaction back would let go of the write lock taken
            # for the batch, and the rest of it would then run on the event loop without it)
            alone = number == 0 and not self.statements_on_loop
            outcome.update(self._attempt_group(session, jobs, alone=alone))
        if groups:
            session.expire_all()  # Core statements changed rows the ORM may hold
        plain = [job for job in batch if job.handler is None]
        for job in plain:
            outcome[id(job)] = self._attempt(session, job)
        if not last_try and any(not ok and gave_way(v) for ok, v in outcome.values()):
            raise _GaveWay  # leaving the session's block rolls the whole batch back
        loud = (
            any(not job.quiet for job in plain)
            or any(not job.handler.announces_all for job in batch if job.handler is not None)
            or bool(session.info.get(UNLISTED))
        )
        news = Committed(list(session.info[ANNOUNCED]), complete=not loud)
        return [outcome[id(job)] for job in batch], news

    def _attempt_group(
        self, session: Session, jobs: list[_Job], alone: bool
    ) -> dict[int, tuple[bool, Any]]:
        """Run one handler's jobs together; `alone` when nothing was written before them in
        this transaction and it holds no lock worth keeping, so that they need no SAVEPOINT
        of their own: when they fail, rolling the whole transaction back undoes exactly their
        writes (and on PostgreSQL the commonest batch, one handler's jobs, saves two round
        trips)."""
        handler = jobs[0].handler
        assert handler is not None
        announced: list[Any] = session.info[ANNOUNCED]
        mark = len(announced)
        savepoint = None if alone else session.begin_nested()
        try:
            values = handler.run(session, [job.item for job in jobs])
            session.flush()
            if savepoint is not None:
                savepoint.commit()
            return {id(job): (True, value) for job, value in zip(jobs, values, strict=True)}
        except Exception as exc:
            if connection_lost(exc):
                # The connection is gone: trying each item alone would only fail on the dead
                # connection again, hiding why (the callers must see that the database is away).
                raise
            if savepoint is not None:
                savepoint.rollback()
            else:
                session.rollback()  # a new transaction begins with the next statement
            del announced[mark:]
            # One item spoiled the group: each item alone, so that only that one fails.
            return {id(job): self._attempt(session, job) for job in jobs}

    @staticmethod
    def _attempt(session: Session, job: _Job) -> tuple[bool, Any]:
        announced: list[Any] = session.info[ANNOUNCED]
        mark = len(announced)
        # A unique-key conflict means another writer (another node) got there first; the
        # job reads again and usually finds that row, so it gets one more try.
        for attempt in range(2):
            savepoint = session.begin_nested()
            try:
                if job.handler is not None:
                    value = job.handler.run(session, [job.item])[0]
                else:
                    assert job.fn is not None
                    value = job.fn(session)
                session.flush()
                savepoint.commit()
                return True, value
            except IntegrityError as exc:
                savepoint.rollback()
                del announced[mark:]
                if attempt == 1:
                    return False, exc
            except Exception as exc:
                if connection_lost(exc):
                    raise  # the connection is gone: the whole batch fails, for that reason
                savepoint.rollback()
                del announced[mark:]
                return False, exc
        raise AssertionError("unreachable")
