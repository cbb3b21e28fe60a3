"""What runs in the background while the daemon serves: the dispatcher, the outgoing-webhook
subscribers, and every timed sweep (APScheduler's AsyncIOScheduler), each its own resource.

The sweeps wake the dispatcher and the webhook sender, which find due work in the database
(retry times live in the rows), so a restart loses nothing. The expiry jobs drop
`Idempotency-Key`s and numbered-choice menus older than 24 hours, and the closed messaging
windows noted more than a week ago; the outbox drops the events every subscriber is done with
after `[events] keep_days`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from gateway.backoff import Schedule, Uniform
from gateway.clock import now
from gateway.domain.windows import forget_closed_windows, note_closed_windows
from gateway.events.outbox import newest_seq
from gateway.events.retention import PRUNE_BATCH, outbox_pruner
from gateway.events.subscribers.redact import redact
from gateway.events.subscribers.sender import DEFAULT_SCHEDULE, WebhookSender, subscribers
from gateway.outbound.dispatcher import LEASE, SEND_TIMEOUT, Dispatcher
from gateway.outbound.pacing import Clock, Sleep
from gateway.outbound.record import kept_status_settler, kept_statuses_recorded, pending_count
from gateway.state import GATEWAY, Gateway
from gateway.store.database import unreachable
from gateway.store.models import EarlyStatusRow, IdempotencyRow, MenuRow
from gateway.store.webhook_models import WebhookCursorRow

log = logging.getLogger(__name__)
T = TypeVar("T")

#: idempotency keys and numbered menus hold this long (SPEC sections 4 and 8)
KEEP = timedelta(hours=24)
#: a status for a part never recorded is kept this long
EARLY_STATUS_KEEP = timedelta(hours=1)
SWEEP_SECONDS = 1.0
EXPIRY_SECONDS = 600.0
FIRST_EXPIRY = timedelta(seconds=5)
#: how often conversations whose messaging window just closed get their note
WINDOW_SECONDS = 60.0
METRICS_SECONDS = 5.0


@dataclass(frozen=True)
class Options:
    """Knobs a test (or an embedding application) may set before the app starts."""

    webhook_schedule: Schedule = DEFAULT_SCHEDULE
    uniform: Uniform = field(default=random.uniform)
    sweep_seconds: float = SWEEP_SECONDS
    #: the time the channels' pacing reads, and how it waits for a token
    pacing_clock: Clock = field(default=time.monotonic)
    pacing_sleep: Sleep = field(default=asyncio.sleep)
    #: how long a delivery's claim holds, and the longest a provider may take to answer a send
    lease: timedelta = LEASE
    send_timeout: float = SEND_TIMEOUT
    #: the first run of the expiry job (old keys, menus, outbox events) this long after the start
    first_expiry: timedelta = FIRST_EXPIRY


OPTIONS = web.AppKey("background_options", Options)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SUBSCRIBERS = web.AppKey("webhook_subscribers", WebhookSender)


def setup(app: web.Application) -> None:
    """Run the dispatcher, the webhook subscribers and the sweeps while the app runs."""
    app.cleanup_ctx.extend([dispatcher_context, subscribers_context, sweeps_context])
    app.on_shutdown.append(stop_claiming)


def _options(app: web.Application) -> Options:
    return app.get(OPTIONS) or Options()


async def dispatcher_context(app: web.Application) -> AsyncIterator[None]:
    options = _options(app)
    dispatcher = Dispatcher(
        app[GATEWAY],
        uniform=options.uniform,
        pacing_clock=options.pacing_clock,
        pacing_sleep=options.pacing_sleep,
        lease=options.lease,
        send_timeout=options.send_timeout,
    )
    await dispatcher.start()
    app[DISPATCHER] = dispatcher
    try:
        yield
    finally:
        await dispatcher.stop(app[GATEWAY].config.gateway.shutdown_grace)


async def stop_claiming(app: web.Application) -> None:
    """As the stop begins: send nothing new; the grace for sends in flight starts now.

    The sends finish while the requests in flight do (aiohttp waits for those before the
    cleanup contexts run), so the whole stop takes `shutdown_grace`, not twice that.
    """
    dispatcher = app.get(DISPATCHER)
    if dispatcher is not None:
        dispatcher.stop_claiming(app[GATEWAY].config.gateway.shutdown_grace)


async def subscribers_context(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    options = _options(app)
    async with aiohttp.ClientSession() as http:
        sender = WebhookSender(
            gateway.db,
            gateway.feed,
            gateway.config.webhooks,
            http,
            schedule=options.webhook_schedule,
            uniform=options.uniform,
        )
        await sender.start()
        app[SUBSCRIBERS] = sender
        try:
            yield
        finally:
            await sender.stop()


async def sweeps_context(app: web.Application) -> AsyncIterator[None]:
    quiet()
    options = _options(app)
    sweeps = build_sweeps(
        app[GATEWAY],
        app[DISPATCHER].wake,
        app[SUBSCRIBERS].wake,
        options.sweep_seconds,
        options.first_expiry,
    )
    sweeps.start()
    try:
        yield
    finally:
        await sweeps.stop(app[GATEWAY].config.gateway.shutdown_grace)


class Sweeps:
    """The timed jobs, on APScheduler's AsyncIOScheduler, each run as a coroutine on the
    event loop: a plain function would run on a worker thread, where waking the dispatcher
    (an asyncio.Event) is not safe.

    A stop lets the jobs already running finish (short reads and writes) instead of
    cancelling them, which APScheduler logs as an ERROR with a traceback.
    """

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[Any]] = set()

    def every(
        self,
        seconds: float,
        job: Callable[[], Awaitable[None] | None],
        job_id: str,
        first: datetime | None = None,
    ) -> None:
        """Run `job` every `seconds` (first at `first`, else after `seconds`); a run
        still going when the next is due is not doubled, and a run the database cannot
        serve (it is away) is skipped until the next one."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                outcome = job()
                if outcome is not None:
                    await outcome
            except Exception as exc:
                if not unreachable(exc):
                    raise
                # /readyz and the requests already say so; the next run tries again
                log.info("%s skipped: the database cannot be reached", job_id)
            finally:
                self._running.discard(task)

        extra = {} if first is None else {"next_run_time": first}
        self.scheduler.add_job(
            run,
            "interval",
            seconds=seconds,
            id=job_id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=60,
            **extra,
        )

    def start(self) -> None:
        """Start the clock; call inside the running loop."""
        self.scheduler.start()

    async def stop(self, grace: float) -> None:
        """Start no more jobs; wait up to `grace` seconds for those running."""
        self.scheduler.pause()
        # A run the scheduler started just before the pause is a task that has not begun:
        # one turn of the loop lets it begin, so it is waited for below instead of being
        # cancelled at the end of the stop (which APScheduler logs as an ERROR).
        await asyncio.sleep(0)
        if self._running:
            _, left = await asyncio.wait(set(self._running), timeout=grace)
            if left:
                log.warning(
                    "%d timed jobs were still running %.1f s into the stop", len(left), grace
                )
        self.scheduler.shutdown(wait=False)


def expire_idempotency_keys(session: Session) -> int:
    """Forget `Idempotency-Key`s older than 24 hours."""
    result = session.execute(
        delete(IdempotencyRow).where(col(IdempotencyRow.created_at) < now() - KEEP)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def expire_menus(session: Session) -> int:
    """Forget numbered-choice menus older than 24 hours."""
    result = session.execute(delete(MenuRow).where(col(MenuRow.created_at) < now() - KEEP))
    return int(getattr(result, "rowcount", 0) or 0)


def expire_early_statuses(session: Session) -> int:
    """Forget statuses for parts never recorded (a send that was never answered)."""
    cutoff = now() - EARLY_STATUS_KEEP
    result = session.execute(delete(EarlyStatusRow).where(col(EarlyStatusRow.received_at) < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


#: the first key of the PostgreSQL advisory locks the sweeps take ("ibxg")
SWEEP_LOCKS = 0x69627867


def alone(sweep: str, work: Callable[[Session], T], skipped: T) -> Callable[[Session], T]:
    """`work` as a write that one node at a time does: on PostgreSQL, a node finding the
    sweep's lock taken (another node is doing it right now) skips it and answers `skipped`.

    What a sweep does is safe to do twice (a note is written once per window, an expired
    row is deleted once); the lock keeps the nodes from doing the same work side by side.
    """
    key = zlib.crc32(sweep.encode()) & 0x7FFFFFFF

    def run(session: Session) -> T:
        if session.get_bind().dialect.name == "postgresql":
            taken = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
                {"space": SWEEP_LOCKS, "key": key},
            ).scalar()
            if not taken:
                return skipped
        return work(session)

    return run


def expire_all(session: Session) -> tuple[int, int]:
    """Every expiry at once; answers the idempotency keys and the menus forgotten."""
    keys = expire_idempotency_keys(session)
    menus = expire_menus(session)
    expire_early_statuses(session)
    forget_closed_windows(session)
    return keys, menus


def backlog(session: Session) -> tuple[int, dict[str, int]]:
    """Deliveries still pending, and events each webhook subscriber has yet to take."""
    pending = pending_count(session)
    newest = newest_seq(session)
    behind = {c.url: newest - c.last_seq for c in session.exec(select(WebhookCursorRow))}
    return pending, behind


def build_sweeps(
    gateway: Gateway,
    wake_dispatcher: Callable[[], None],
    wake_webhooks: Callable[[], None],
    sweep_seconds: float = SWEEP_SECONDS,
    first_expiry: timedelta = FIRST_EXPIRY,
) -> Sweeps:
    """All the daemon's timed jobs; start them inside the running loop."""
    sweeps = Sweeps()
    db = gateway.db

    async def gauges() -> None:
        pending, behind = await db.read(backlog)
        gateway.metrics.deliveries_pending.set(pending)
        # /metrics needs no login: label by the URL without its credentials, and add up
        # subscribers that differ only in those
        shown: dict[str, int] = {}
        for url, count in behind.items():
            shown[redact(url)] = shown.get(redact(url), 0) + count
        for label, count in shown.items():
            gateway.metrics.webhooks_pending.labels(label).set(count)

    async def prune_outbox() -> None:
        keep_days = gateway.config.events.keep_days
        if not keep_days:
            return
        keys = [sub.key for sub in subscribers(gateway.config.webhooks)]
        prune = alone("outbox", outbox_pruner(now() - timedelta(days=keep_days), keys), 0)
        # A batch a transaction, behind the requests' writes, until the backlog is gone (the
        # first run after an upgrade may find months of events).
        pruned = 0
        while True:
            done = await db.write(prune, quiet=True, background=True)
            pruned += done
            if done < PRUNE_BATCH:
                break
        if pruned:
            log.info("pruned %d events older than %d days from the outbox", pruned, keep_days)

    async def expire() -> None:
        await prune_outbox()
        keys, menus = await db.write(alone("expiry", expire_all, (0, 0)), quiet=True)
        if keys or menus:
            log.info("expired %d idempotency keys and %d menus", keys, menus)

    sweeps.every(sweep_seconds, wake_dispatcher, "due-deliveries")
    sweeps.every(sweep_seconds, wake_webhooks, "outgoing-webhooks")

    async def closed_windows() -> None:
        directory = gateway.directory
        noted = await db.write(
            alone("closed-windows", lambda session: note_closed_windows(session, directory), 0)
        )
        if noted:
            log.info("noted %d closed messaging windows", noted)

    async def kept_statuses() -> None:
        if not await db.read(kept_statuses_recorded):
            return
        settle = kept_status_settler(gateway.directory)
        settled = await db.write(alone("kept-statuses", settle, 0), background=True)
        if settled:
            log.info("applied %d statuses that arrived while another node recorded", settled)

    if not db.sqlite:  # one SQLite writer commits a status and a record one after the other
        sweeps.every(sweep_seconds, kept_statuses, "kept-statuses")
    sweeps.every(WINDOW_SECONDS, closed_windows, "closed-windows")
    sweeps.every(METRICS_SECONDS, gauges, "backlog-gauges")
    sweeps.every(EXPIRY_SECONDS, expire, "expire-and-prune", now() + first_expiry)
    return sweeps


def quiet() -> None:
    """APScheduler logs every run of every job at INFO; the sweeps run each second."""
    for name in ("apscheduler.executors.default", "apscheduler.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
