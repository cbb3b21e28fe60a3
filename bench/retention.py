"""What pruning the outbox costs, and that it does not grow with the outbox.

Two outboxes on each database hold events made over the last 60 days, half of them older
than the 30 days `[events] keep_days` keeps by default: a small one and one 20 times as
large. The gateway's own pruner (`gateway.events.retention`) then runs as the daemon runs it,
a transaction of `PRUNE_BATCH` events at a time until nothing old is left, and once more
with nothing to prune, as it does every 10 minutes after that. The baseline in the same run
is the small outbox: a batch must cost the same whatever the number of events kept.

    python -m bench.retention [--quick] [--only sqlite,postgres]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from bench import harness
from bench.cli import options
from bench.report import Figure, RatioAtMost, Report
from gateway.clock import new_id, now
from gateway.events.outbox import MESSAGE
from gateway.events.retention import PRUNE_BATCH, id_before, outbox_pruner
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.tables import EVENTS

DAYS = 60
KEEP_DAYS = 30
#: runs with nothing to prune, timed
IDLE_RUNS = 21


@dataclass(frozen=True)
class Sizes:
    #: events in the small and the large outbox (half of each older than KEEP_DAYS)
    small: int
    large: int


DEFAULT = Sizes(small=10 * PRUNE_BATCH, large=200 * PRUNE_BATCH)
QUICK = Sizes(small=2 * PRUNE_BATCH, large=10 * PRUNE_BATCH)

#: a `message_sent_to_business` event's body, the size of a short SMS's
BODY: dict[str, Any] = {
    "conversationId": "0193a1c2-0000-7000-8000-000000000001",
    "message": {
        "id": "0193a1c2-0000-7000-8000-000000000002",
        "content": {"basic": {"items": [{"text": "Hello, is my order on its way? " * 3}]}},
        "direction": "PARTICIPANT_TO_BUSINESS",
        "visibility": "BUSINESS_AND_PARTICIPANT",
        "sequence": "12",
        "createdDate": "2026-11-27T03:00:00.000Z",
        "sender": {"contactId": "0193a1c2-0000-7000-8000-000000000003"},
    },
}


@dataclass(frozen=True)
class Pruning:
    pruned: int
    #: milliseconds of each full batch
    batch_ms: list[float]
    #: milliseconds of each run with nothing to prune, right after the backlog went
    right_after_ms: list[float]
    #: the same, once the table is vacuumed (PostgreSQL; SQLite frees the rows as it deletes)
    idle_ms: list[float]


@dataclass(frozen=True)
class Outcome:
    events: int
    fill_seconds: float
    pruning: Pruning


def fill(url: str, count: int, start: datetime) -> float:
    """`count` events spread evenly over the DAYS before `start`; the seconds it took."""
    began = time.perf_counter()
    engine = create_db_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            rows: list[dict[str, Any]] = []
            for n in range(count):
                made = start - timedelta(days=DAYS) + timedelta(days=DAYS) * n / count
                rows.append(
                    {
                        "id": id_before(made) + new_id()[13:],
                        "slug": "message_sent_to_business",
                        "entity_fqdn": MESSAGE,
                        "entity_id": new_id(),
                        "conversation_id": BODY["conversationId"],
                        "event_time": made,
                        "body": BODY,
                    }
                )
                if len(rows) == 5000:
                    connection.execute(EVENTS.insert(), rows)
                    rows = []
            if rows:
                connection.execute(EVENTS.insert(), rows)
        with engine.connect() as connection:
            # as autovacuum (or SQLite's optimize) would have by then
            connection.execute(text("ANALYZE"))
            connection.commit()
    finally:
        engine.dispose()
    return time.perf_counter() - began


def prune_all(url: str, start: datetime) -> Pruning:
    """Prune as the daemon does, then run with nothing to prune, right after and once the
    table is vacuumed."""
    prune = outbox_pruner(start - timedelta(days=KEEP_DAYS), [])
    engine = create_db_engine(url)
    batches: list[float] = []
    pruned = 0
    try:
        while True:
            seconds, done = _timed(engine, prune)
            pruned += done
            if done < PRUNE_BATCH:
                break
            batches.append(seconds * 1000)
        right_after = _idle_runs(engine, prune)
        if engine.dialect.name == "postgresql":
            # The deleted rows' index entries stay until VACUUM, which autovacuum runs within
            # a minute of a delete of this size, before the daemon's next run.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM events"))
        vacuumed = _idle_runs(engine, prune)
    finally:
        engine.dispose()
    return Pruning(pruned, batches, right_after, vacuumed)


def _idle_runs(engine: Engine, prune: Callable[[Session], int]) -> list[float]:
    runs = []
    for _ in range(IDLE_RUNS):
        seconds, done = _timed(engine, prune)
        assert done == 0, "a run after the backlog found something to prune"
        runs.append(seconds * 1000)
    return runs


def _timed(engine: Engine, prune: Callable[[Session], int]) -> tuple[float, int]:
    with Session(engine) as session:
        began = time.perf_counter()
        done = prune(session)
        session.commit()
        return time.perf_counter() - began, done


def measure(url: str, count: int) -> Outcome:
    start = now()
    seconds = fill(url, count, start)
    return Outcome(count, seconds, prune_all(url, start))


def one_database(backend: str, sizes: Sizes, report: Report) -> None:
    db = harness.backend_name(backend)
    with (
        harness.workspace() as folder,
        harness.database(backend, folder / "small") as small_url,
        harness.database(backend, folder / "large") as large_url,
    ):
        small = measure(small_url, sizes.small)
        large = measure(large_url, sizes.large)
    for outcome in (small, large):
        expected = outcome.events // 2
        # the newest old event may be a few short of half: ids are made to the millisecond
        assert abs(outcome.pruning.pruned - expected) <= 2, (outcome.pruning.pruned, expected)
    baseline = f"{small.events:,} events"
    big, little = large.pruning, small.pruning
    report.add(
        Figure(
            f"outbox pruning, a batch of {PRUNE_BATCH:,} events, median ms",
            db,
            statistics.median(big.batch_ms),
            statistics.median(little.batch_ms),
            baseline,
            RatioAtMost(1.5),
            digits=1,
        ),
        Figure(
            "outbox pruning, a run with nothing old left, median ms",
            db,
            statistics.median(big.idle_ms),
            statistics.median(little.idle_ms),
            baseline,
            RatioAtMost(1.5),
            digits=2,
        ),
    )
    report.note(
        f"{db}: {large.events:,} events ({big.pruned:,} pruned in {len(big.batch_ms) + 1} "
        f"transactions, slowest batch {max(big.batch_ms):.1f} ms) against {small.events:,} "
        f"({little.pruned:,} pruned); the large outbox was filled in {large.fill_seconds:.0f} s"
    )
    if backend == "postgres":
        after, after_small = (statistics.median(p.right_after_ms) for p in (big, little))
        report.note(
            f"{db}: runs with nothing to prune are timed after `VACUUM events`, which "
            "autovacuum runs within a minute of a delete this size; right after it, while the "
            f"index still held the deleted entries, they took {after:.2f} ms against "
            f"{after_small:.2f}"
        )


def main() -> int:
    args = options(__doc__ or "", parts=("sqlite", "postgres"))
    sizes = QUICK if args.quick else DEFAULT
    report = Report("Outbox retention", quick=args.quick)
    report.note(
        f"events made over {DAYS} days, pruned after {KEEP_DAYS} as `[events] keep_days` does "
        f"by default, {PRUNE_BATCH:,} to a transaction, by the gateway's own pruner in this "
        f"process; {IDLE_RUNS} runs with nothing to prune"
    )
    for backend in harness.backends():
        if backend in args.only:
            one_database(backend, sizes, report)
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
