"""Group commit: many writers share a transaction; each is answered after its commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway.events import outbox
from gateway.store import migrate
from gateway.store.database import Database, unreachable
from gateway.store.models import SecretRow
from gateway.store.writer import AT_ONCE, TAKE_WRITE_LOCK, BatchHandler, Committed
from tests.support import eventually
from tests.support.databases import fresh_postgres


async def open_db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db.engine)
    await db.start()
    return db


async def test_concurrent_writes_share_commits_and_all_land(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "w.db")

    def put(n: int):  # type: ignore[no-untyped-def]
        return lambda s: s.add(SecretRow(name=f"k{n}", value=str(n)))

    await asyncio.gather(*(db.write(put(n)) for n in range(200)))
    assert db.writer.jobs == 200
    assert db.writer.batches < 200  # some writes were committed together
    await db.close()
    fresh = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with Session(fresh.engine) as session:
        assert len(list(session.exec(select(SecretRow)))) == 200


async def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "w.db")
    await db.write(lambda s: s.add(SecretRow(name="taken", value="1")))

    def duplicate(s: Session) -> None:
        s.add(SecretRow(name="taken", value="2"))

    results = await asyncio.gather(
        db.write(duplicate),
        db.write(lambda s: s.add(SecretRow(name="fine", value="3"))),
        return_exceptions=True,
    )
    assert isinstance(results[0], IntegrityError)
    assert results[1] is None
    names = await db.read(lambda s: sorted(r.name for r in s.exec(select(SecretRow))))
    assert names == ["fine", "taken"]
    await db.close()


async def test_writes_queued_at_shutdown_are_committed(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "w.db")
    pending = [
        asyncio.ensure_future(db.write(lambda s, n=n: s.add(SecretRow(name=f"p{n}", value="x"))))
        for n in range(20)
    ]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*pending)
    fresh = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with Session(fresh.engine) as session:
        assert len(list(session.exec(select(SecretRow)))) == 20


def names_on_disk(connection: sqlite3.Connection) -> list[str]:
    return [name for (name,) in connection.execute("SELECT name FROM secrets ORDER BY name")]


async def taken_by_the_writer(db: Database) -> None:
    """Once the one queued write is taken from the queue (and waits for the write lock)."""
    await asyncio.sleep(0)
    assert db.writer.depth == 1
    await eventually(lambda: db.writer.depth == 0)


async def test_a_request_is_answered_without_waiting_for_background_writes_of_its_batch(
    tmp_path: Path,
) -> None:
    """The dispatcher's bookkeeping taken in the same batch is committed after the request's
    write, which is answered (and on disk) first."""
    db = await open_db(tmp_path / "w.db")
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    first = asyncio.ensure_future(db.write(lambda s: s.add(SecretRow(name="first", value="x"))))
    await taken_by_the_writer(db)
    background = asyncio.ensure_future(
        db.write(lambda s: s.add(SecretRow(name="bookkeeping", value="x")), background=True)
    )
    request = asyncio.ensure_future(db.write(lambda s: s.add(SecretRow(name="asked", value="x"))))
    await eventually(lambda: db.writer.depth == 2)
    when_answered: list[tuple[bool, list[str]]] = []
    request.add_done_callback(
        lambda _: when_answered.append((background.done(), names_on_disk(other)))
    )
    other.execute("COMMIT")  # both now go into one batch
    await asyncio.gather(first, request, background)
    assert when_answered == [(False, ["asked", "first"])]
    assert names_on_disk(other) == ["asked", "bookkeeping", "first"]
    other.close()
    await db.close()


async def test_the_event_loop_runs_while_another_process_holds_the_sqlite_write_lock(
    tmp_path: Path,
) -> None:
    """On SQLite the writer's statements run on the event loop's thread; waiting for the
    write lock (another process's transaction, or a command-line tool's) is done on a worker
    thread, so requests that only read are served meanwhile."""
    db = await open_db(tmp_path / "w.db")
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO secrets (name, value) VALUES ('theirs', 'x')")
    write = asyncio.ensure_future(db.write(lambda s: s.add(SecretRow(name="ours", value="x"))))
    await taken_by_the_writer(db)
    read = await db.read(lambda s: [r.name for r in s.exec(select(SecretRow))])
    assert read == []  # served while the write waits; the other transaction is not committed
    assert not write.done()
    other.execute("COMMIT")
    await write
    assert names_on_disk(other) == ["ours", "theirs"]
    other.close()
    await db.close()


async def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "w.db")
    await db.close()
    with pytest.raises(RuntimeError):
        await db.write(lambda s: s.add(SecretRow(name="late", value="x")))


async def test_an_unknown_way_of_taking_the_sqlite_write_lock_is_refused(tmp_path: Path) -> None:
    """A transaction asked to take the write lock some third way is refused, naming both
    ways, rather than begun without the lock (its statements would then wait for another
    process's transaction on the event loop's thread)."""
    db = await open_db(tmp_path / "w.db")
    with db.engine.connect() as connection:
        with pytest.raises(ValueError, match="'wait' or 'at once', not 'later'"):
            connection.execution_options(**{TAKE_WRITE_LOCK: "later"}).begin()
        with connection.execution_options(**{TAKE_WRITE_LOCK: AT_ONCE}).begin():
            # the lock is this connection's: another cannot begin a write
            other = sqlite3.connect(tmp_path / "w.db", timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    await db.close()


async def test_sqlite_commits_are_synced_to_disk(tmp_path: Path) -> None:
    """Every SQLite connection syncs the WAL at each commit (a power cut loses no answer)."""
    db = await open_db(tmp_path / "w.db")
    with db.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL
    await db.close()


async def test_a_failing_item_of_a_batched_write_fails_alone(tmp_path: Path) -> None:
    """Items written together by one handler: a conflict fails only the item that caused it."""
    db = await open_db(tmp_path / "w.db")
    await db.write(lambda s: s.add(SecretRow(name="taken", value="1")))
    calls: list[int] = []

    def put_all(session: Session, names: list[str]) -> list[str]:
        calls.append(len(names))
        for name in names:
            session.add(SecretRow(name=name, value="2"))
        session.flush()
        return [f"stored {name}" for name in names]

    handler = BatchHandler("secrets", put_all)
    results = await asyncio.gather(
        *(db.write_batched(handler, name) for name in ["a", "taken", "b"]),
        return_exceptions=True,
    )
    assert results[0] == "stored a" and results[2] == "stored b"
    assert isinstance(results[1], IntegrityError)
    assert calls[0] == 3  # first tried together
    names = await db.read(lambda s: sorted(r.name for r in s.exec(select(SecretRow))))
    assert names == ["a", "b", "taken"]
    assert await db.read(lambda s: s.get(SecretRow, "taken").value) == "1"  # type: ignore[union-attr]
    await db.close()


async def test_a_connection_cut_under_a_batch_tells_every_caller_the_database_is_away(
    postgres_url: str,
) -> None:
    """The server ends the writer's connection mid-batch (a restart, a failover): each caller
    learns that the database cannot be reached, which they answer with a 503, the spool or a
    later try, rather than with an error about a transaction that needs rolling back."""
    with fresh_postgres(postgres_url) as url:
        db = Database(url)
        migrate.upgrade(db.engine)
        await db.start()
        cut = [True]

        def put_all(session: Session, names: list[str]) -> list[str]:
            if cut[0]:
                cut[0] = False
                session.connection().exec_driver_sql(
                    "SELECT pg_terminate_backend(pg_backend_pid())"
                )
            for name in names:
                session.add(SecretRow(name=name, value="1"))
            session.flush()
            return names

        settled: list[tuple[bool, int, float]] = []
        db.writer.on_settled.append(lambda *told: settled.append(told))
        handler = BatchHandler("secrets", put_all)
        results = await asyncio.gather(
            *(db.write_batched(handler, name) for name in ["a", "b", "c"]),
            return_exceptions=True,
        )
        assert all(isinstance(r, Exception) and unreachable(r) for r in results), results
        # the transaction that failed kept the writer busy all the same (its busy metric)
        assert [(background, writes) for background, writes, _ in settled] == [(False, 3)]
        assert settled[0][2] > 0
        # and the writer carries on with a new connection
        assert await db.write_batched(handler, "d") == "d"
        assert await db.read(lambda s: [r.name for r in s.exec(select(SecretRow))]) == ["d"]
        await db.close()


async def test_a_batch_whose_first_items_fail_keeps_the_sqlite_write_lock(tmp_path: Path) -> None:
    """The rest of a batch whose first handler's write failed still runs in the transaction
    that took SQLite's write lock for it: begun again without the lock, its statements (on
    the event loop's thread) would wait for another process's transaction there."""
    db = await open_db(tmp_path / "w.db")
    await db.write(lambda s: s.add(SecretRow(name="taken", value="1")))
    begun: list[str] = []

    def count_begins(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    def put_all(session: Session, names: list[str]) -> list[str]:
        for name in names:
            session.add(SecretRow(name=name, value="2"))
        session.flush()
        return [f"stored {name}" for name in names]

    event.listen(db.engine, "before_cursor_execute", count_begins)
    results = await asyncio.gather(
        *(db.write_batched(BatchHandler("secrets", put_all), n) for n in ["a", "taken"]),
        return_exceptions=True,
    )
    assert results[0] == "stored a" and isinstance(results[1], IntegrityError)
    assert begun == ["BEGIN IMMEDIATE"]  # one transaction, with the lock from its start
    await db.close()


@pytest.mark.parametrize("failing_first", [True, False])
async def test_a_failing_handler_of_a_commit_leaves_the_other_handlers_items_stored(
    tmp_path: Path, failing_first: bool
) -> None:
    """Two handlers' items in one group commit: the one whose write fails (run first, when
    the transaction is rolled back, or after, when only its SAVEPOINT is) loses only its own."""
    db = await open_db(tmp_path / "w.db")
    await db.write(lambda s: s.add(SecretRow(name="taken", value="1")))

    def put_all(session: Session, names: list[str]) -> list[str]:
        for name in names:
            session.add(SecretRow(name=name, value="2"))
        session.flush()
        return [f"stored {name}" for name in names]

    good, bad = BatchHandler("good", put_all), BatchHandler("bad", put_all)
    writes = [(good, "a"), (good, "b"), (bad, "taken")]
    if failing_first:
        writes.reverse()
    results = dict(
        zip(
            [name for _, name in writes],
            await asyncio.gather(
                *(db.write_batched(handler, name) for handler, name in writes),
                return_exceptions=True,
            ),
            strict=True,
        )
    )
    assert results["a"] == "stored a" and results["b"] == "stored b"
    assert isinstance(results["taken"], IntegrityError)
    names = await db.read(lambda s: sorted(r.name for r in s.exec(select(SecretRow))))
    assert names == ["a", "b", "taken"]
    await db.close()


async def test_an_event_appended_the_orm_way_in_a_batched_job_is_not_taken_as_listed(
    tmp_path: Path,
) -> None:
    """The live feed hands out at once only what a commit's news lists, and reads the table
    when the news is incomplete. A batched job may append the ORM's way too (a batch of
    statuses after which a message's parts add up to FAILED announces it so): that event is
    not listed, so the news must not claim to be complete, or the event would wait for the
    next commit to reach the inbox page and the subscribers."""
    db = await open_db(tmp_path / "w.db")
    news: list[Committed] = []
    db.writer.on_commit.append(news.append)

    def both_ways(session: Session, items: list[int]) -> list[None]:
        outbox.emit_many(session, [outbox.NewEvent("listed", "m1", {}, None)])
        outbox.emit(session, "unlisted", "m2", {}, conversation_id=None)
        return [None for _ in items]

    await db.write_batched(BatchHandler("both ways", both_ways), 1)
    assert [e.slug for e in news[-1].events] == ["listed"]
    assert not news[-1].complete
    await db.close()
