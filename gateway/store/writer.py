"""Group commit: many requests' writes share one transaction, each answered after its commit."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

T = TypeVar("T")
log = logging.getLogger(__name__)

#: the most jobs one transaction takes; more wait for the next commit
MAX_BATCH = 256


@dataclass
class _Job:
    fn: Callable[[Session], Any]
    future: asyncio.Future[Any]


class WriterClosed(RuntimeError):
    """The writer was stopped; the write was not attempted."""


class GroupCommitWriter:
    """One task drains the queue: each batch runs in one transaction on one thread.

    Every job runs in its own SAVEPOINT, so a job that fails (say, a unique-key conflict)
    is rolled back alone and its caller gets the exception, while the rest of the batch
    commits. After the batch is committed the callbacks run (`on_commit`), which is how the
    live feeds learn of new events.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lock = threading.Lock()
        self.on_commit: list[Callable[[], None]] = []
        self.batches = 0
        self.jobs = 0

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

    async def submit(self, fn: Callable[[Session], T]) -> T:
        if self._closing or self._task is None:
            raise WriterClosed("the database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(fn, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
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
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(None, self._commit, batch)
            except Exception as exc:  # the commit itself failed: nobody's write landed
                log.exception("group commit failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
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
                    callback()
                except Exception:
                    log.exception("on_commit callback failed")

    def _commit(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        with self._lock, Session(self.engine, expire_on_commit=False) as session:
            for job in batch:
                results.append(self._attempt(session, job))
            session.commit()
        return results

    @staticmethod
    def _attempt(session: Session, job: _Job) -> tuple[bool, Any]:
        # A unique-key conflict means another writer (another node) got there first; the
        # job reads again and usually finds that row, so it gets one more try.
        for attempt in range(2):
            savepoint = session.begin_nested()
            try:
                value = job.fn(session)
                session.flush()
                savepoint.commit()
                return True, value
            except IntegrityError as exc:
                savepoint.rollback()
                if attempt == 1:
                    return False, exc
            except Exception as exc:
                savepoint.rollback()
                return False, exc
        raise AssertionError("unreachable")
