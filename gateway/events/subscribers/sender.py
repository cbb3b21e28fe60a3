"""Outgoing webhooks: every outbox event POSTed, signed, to each subscriber that wants it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from gateway.backoff import (
    WEBHOOK_DELAYS,
    WEBHOOK_EVERY,
    WEBHOOK_PATIENCE,
    Schedule,
    Uniform,
    sleep_until_woken,
)
from gateway.clock import now
from gateway.config import WebhookSection
from gateway.events.feed import EventFeed
from gateway.events.outbox import envelope
from gateway.events.subscribers.progress import (
    Work,
    cursor_opener,
    failure_recorder,
    held_elsewhere,
    lease_taker,
    next_work,
    skipper,
    success_recorder,
)
from gateway.events.subscribers.redact import redact, scrub
from gateway.events.subscribers.signature import HEADER, sign
from gateway.store.database import Database, log_failure
from gateway.store.models import EventRow
from gateway.store.webhook_models import subscriber_key

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = Schedule(WEBHOOK_DELAYS, WEBHOOK_EVERY, WEBHOOK_PATIENCE)
#: a subscriber has this long to answer
TIMEOUT_SECONDS = 10.0
#: how long one process stays the sender of a subscriber without renewing
LEASE = timedelta(seconds=60)
#: how often a subscriber's queue is looked at when nothing woke it
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Subscriber:
    """One `[[webhooks]]` entry."""

    key: str
    url: str
    secret: str
    slugs: frozenset[str]


def subscribers(entries: list[WebhookSection]) -> list[Subscriber]:
    """The configured subscribers; a URL listed twice is one subscriber (the first entry)."""
    found: dict[str, Subscriber] = {}
    for entry in entries:
        key = subscriber_key(entry.url)
        if key in found:
            log.warning("webhook %s is configured twice; using its first entry", redact(entry.url))
            continue
        found[key] = Subscriber(key, entry.url, entry.secret, frozenset(entry.events))
    return list(found.values())


class WebhookSender:
    """One task per subscriber walks its cursor through the outbox."""

    def __init__(
        self,
        db: Database,
        feed: EventFeed,
        entries: list[WebhookSection],
        http: aiohttp.ClientSession,
        *,
        schedule: Schedule = DEFAULT_SCHEDULE,
        timeout: float = TIMEOUT_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        uniform: Uniform = random.uniform,
    ) -> None:
        self.db = db
        self.feed = feed
        self.http = http
        self.schedule = schedule
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.poll_seconds = poll_seconds
        self.uniform = uniform
        self.owner = uuid.uuid4().hex
        self.subscribers = subscribers(entries)
        self._wakes = {s.key: asyncio.Event() for s in self.subscribers}
        self._leased_until = {s.key: now() - LEASE for s in self.subscribers}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def wake(self) -> None:
        """Look for new events now (after a commit, or from the sweep)."""
        for event in self._wakes.values():
            event.set()

    async def start(self) -> None:
        db = self.db
        stamp = now()
        for sub in self.subscribers:
            await db.write(cursor_opener(sub.key, sub.url, stamp), quiet=True)
            if db.sqlite:
                # one process owns a SQLite file: a lease left by a crash is nobody's any more
                await self._renew(sub, force=True)
        self.feed.wakers.append(self.wake)
        self._tasks = [
            asyncio.create_task(self._run(sub), name=f"webhook-{redact(sub.url)}")
            for sub in self.subscribers
        ]

    async def stop(self) -> None:
        self._closing = True
        with contextlib.suppress(ValueError):
            self.feed.wakers.remove(self.wake)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self, sub: Subscriber) -> None:
        wake = self._wakes[sub.key]
        while not self._closing:
            wake.clear()
            try:
                pause = await self._step(sub)
            except asyncio.CancelledError:
                raise
            except Exception:
                log_failure(log, "outgoing webhook %s failed", redact(sub.url))
                pause = self.poll_seconds
            if pause > 0:
                await sleep_until_woken(wake, pause)

    async def _renew(self, sub: Subscriber, force: bool = False) -> bool:
        """Hold the subscriber's lease (renewed at half time); False: another node holds it.

        The sender's writes are quiet: they append no event, so their commits wake no
        sender (a node waiting for the lease would otherwise wake itself, over and over).
        """
        stamp = now()
        held_until = self._leased_until[sub.key]
        if not force and held_until - stamp > LEASE / 2:
            return True
        # a node waiting for another's lease only reads, so idle nodes write nothing
        if (
            not force
            and held_until <= stamp
            and await self.db.read(held_elsewhere(sub.key, self.owner, stamp))
        ):
            return False
        taken = await self.db.write(
            lease_taker(sub.key, self.owner, stamp, LEASE, force), quiet=True
        )
        self._leased_until[sub.key] = stamp + LEASE if taken else stamp
        return taken

    async def _step(self, sub: Subscriber) -> float:
        """Do the subscriber's next piece of work; returns how long to wait before the next."""
        if not await self._renew(sub):
            return self.poll_seconds  # another node sends to this subscriber
        db = self.db
        stamp = now()
        work: Work = await db.read(
            lambda s: next_work(s, sub.key, sub.slugs, stamp, gapless=db.sqlite)
        )
        if work.skip_to is not None:
            await db.write(skipper(sub.key, self.owner, work.skip_to, stamp), quiet=True)
        if work.event is None:
            if work.wait_until is None:
                return self.poll_seconds
            return max(0.0, min(self.poll_seconds, (work.wait_until - now()).total_seconds()))
        error = await self._post(sub, work.event)
        if error is None:
            await db.write(
                success_recorder(sub.key, self.owner, work.event, work.replay, now()), quiet=True
            )
            return 0.0
        attempt = await db.write(
            failure_recorder(
                sub.key,
                self.owner,
                work.event,
                work.replay,
                error,
                now(),
                self.schedule,
                self.uniform,
            ),
            quiet=True,
        )
        log.warning(
            "outgoing webhook %s refused event %s (%s, attempt %d): %s",
            redact(sub.url),
            work.event.id,
            work.event.slug,
            attempt.attempts,
            error,
        )
        return 0.0

    async def _post(self, sub: Subscriber, event: EventRow) -> str | None:
        """POST one event; returns None on a 2xx answer, else what went wrong."""
        body = json.dumps(envelope(event), separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "inbox-gateway",
            HEADER: sign(sub.secret, body),
        }
        try:
            async with self.http.post(
                sub.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # the error is logged and stored: it may quote the URL, credentials and all
            return scrub(f"{type(exc).__name__}: {exc}", sub.url)[:500]
