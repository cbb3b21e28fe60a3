"""The dispatcher: claims due deliveries, renders them, sends each part, records the result."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlmodel import Session

from channels import (
    Adapter,
    Choice,
    MessageContent,
    OutboundPart,
    SendError,
    network_error,
    render,
)
from channels.links import links_as_text
from gateway.backoff import Uniform, sleep_until_woken
from gateway.clock import now
from gateway.events.feed import QueuedSend
from gateway.events.wakeups import tell_sends_queued
from gateway.outbound.claim import (
    Candidate,
    Due,
    Job,
    claimer,
    find_due,
    lease_keeper,
    release_abandoned,
    releaser,
)
from gateway.outbound.look_budget import LookBudget
from gateway.outbound.pacing import Clock, Pacer, SharedSlots, Sleep
from gateway.outbound.record import fail_now, failure_recorder, finisher
from gateway.outbound.sent import RECORD_SENT, SentPart
from gateway.state import Gateway
from gateway.store.database import log_failure, unreachable

T = TypeVar("T")
log = logging.getLogger(__name__)

#: how long a claim holds before another worker may take the delivery over
LEASE = timedelta(seconds=60)
#: the longest one `adapter.send` may take; a provider that hangs counts as a network error
SEND_TIMEOUT = 30.0
#: how often the dispatcher looks for due rows when nothing woke it
POLL_SECONDS = 1.0
#: how long the due deliveries found by one look are taken in their order before the next
#: look, when they can fill the free workers: a newly due recipient waits at most this long
#: behind those found before
AHEAD_SECONDS = 0.25
#: how long what a look found is taken in its order at most, when the dispatcher is told of
#: every send queued. A node hands its dispatcher every send it stores, every retry as it
#: falls due and every claim it lets go; on PostgreSQL, other nodes' NOTIFYs tell it when
#: they queue sends or let go of due ones (then it looks at once). Until what a look found
#: is taken, a new look would find the same, and those handed over after it come after it
#: in its order too (their recipients were served last). The limit is for what falls due
#: otherwise (a claim's lease that lapsed because its send was lost).
TOLD_KEEP_SECONDS = 30.0
#: the share of its time the dispatcher may spend looking for due deliveries, how much
#: looking it may do at once, and how much of a look is not counted (see LookBudget): with a
#: long queue, looks come further apart, each takes in more, and what one found is taken
#: for longer
LOOK_SHARE = 0.1
LOOK_BURST = 0.25
LOOK_FREE = 0.1
#: at most this many times the usual number of deliveries are taken in by one look
LOOK_GROWTH = 20
#: the first and the longest wait before a provider's answer is written again, while the
#: database cannot be reached
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_LAST = 5.0
#: seconds after a retry falls due that it is handed to a round (its claim checks it is due)
RETRY_MARGIN = 0.005
#: times a send handed over and not claimed is offered again, and for how long (loop seconds)
BEHIND_OFFERS = 8
BEHIND_SECONDS = 60.0


class Dispatcher:
    """Sends what is due with `workers` concurrent sends, each channel at its own pace.

    A worker is taken until the provider answered the delivery's last part (or it failed);
    writing that answer down goes on without it, so the next due delivery does not wait for
    the group commit. At most `workers` more deliveries wait for theirs.

    Up to `workers` due deliveries are claimed ahead of a free worker: each takes the next
    worker the moment one is free, instead of the worker waiting for a look at the due
    deliveries and a claim's commit first (which is most of a send's time when the provider
    answers quickly). One that waits so long that its lease could end during its send lets
    go of the claim instead, and is claimed again later.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        lease: timedelta = LEASE,
        send_timeout: float = SEND_TIMEOUT,
        poll_seconds: float = POLL_SECONDS,
        uniform: Uniform = random.uniform,
        pacing_clock: Clock = time.monotonic,
        pacing_sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.gateway = gateway
        self.lease = lease
        self.send_timeout = send_timeout
        self.poll_seconds = poll_seconds
        self.uniform = uniform
        self.slots = gateway.config.delivery.workers
        #: how many due deliveries a look takes in when looks are cheap
        self._usual_look = self.slots * 4 + 16
        self._workers = asyncio.Semaphore(self.slots)
        #: deliveries that hold one of the workers
        self._holding: set[str] = set()
        #: deliveries whose claim was let go unsent, after a long wait for a worker: handed
        #: back to the rounds once their task ends (while it runs, a round takes them for
        #: being sent)
        self._let_go: set[str] = set()
        #: how long a delivery claimed ahead may wait for a worker: its send, which may take
        #: up to `send_timeout`, must end well within the lease (by default 15 s)
        self._longest_wait = (lease.total_seconds() - send_timeout) / 2
        self.pacer = Pacer(
            gateway.rates,
            clock=pacing_clock,
            sleep=pacing_sleep,
            # several nodes may share a PostgreSQL database: they share each channel's pace
            shared=None if gateway.db.sqlite else SharedSlots(gateway.db.engine),
        )
        self._jobs: dict[str, asyncio.Task[None]] = {}
        #: claimed deliveries not all of whose parts are answered yet: holding a worker, or
        #: claimed ahead and waiting for one
        self._sending: set[str] = set()
        self._busy: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: when the sends in flight must be done, once a stop has begun (loop time)
        self._deadline: float | None = None
        #: deliveries with a part handed to the provider whose outcome is not recorded yet
        self._unanswered: set[str] = set()
        #: due deliveries the last look found and no worker took yet, most deserving first
        self._ahead: list[Candidate] = []
        #: when that look was (loop time), and when the next delivery not due then falls due
        self._looked_at = 0.0
        self._next_due: datetime | None = None
        self._looks = LookBudget(LOOK_SHARE, LOOK_BURST, LOOK_FREE)
        #: sends this node queued since the last round (its API's, and its retries as they fall
        #: due), not looked for yet, and set when one is
        self._queued: list[Candidate] = []
        self._queued_now = asyncio.Event()
        #: this node's retries, each handed to a round as it falls due (see `_retry_when_due`)
        self._retries: dict[str, asyncio.TimerHandle] = {}
        #: sends handed over that a claim did not take, with when: offered again as a send of
        #: their channel ends (see `_wait_behind`)
        self._behind: dict[str, tuple[Candidate, float]] = {}
        #: the deliveries this node's sends ended for last, oldest first (a look's copy of a
        #: send handed over may have been sent first)
        self._ended: dict[str, None] = {}
        #: another node queued sends since the last look (PostgreSQL)
        self._queued_elsewhere = False
        #: a stop left sends due later (or due, and not sent) that the other nodes' last
        #: looks may not know of: they are told as it ends (PostgreSQL)
        self._tell_as_it_ends = False

    def wake(self, queued: Sequence[QueuedSend] = ()) -> None:
        """Look for due deliveries now (after a commit, or from the retry sweep); `queued`
        are sends this node just queued or whose retry just fell due, which a round that does
        not look takes as found."""
        if queued:
            self._queued += (Candidate(s.message_id, s.channel_id, handed=1) for s in queued)
            self._queued_now.set()
        self._wake.set()

    def look_again(self) -> None:
        """Look for due deliveries in the next round, even while what the last look found
        waits: sends were queued that this node was not handed (another node's)."""
        self._queued_elsewhere = True
        self._wake.set()

    async def start(self) -> None:
        db = self.gateway.db
        if db.sqlite:
            # one process owns a SQLite file: claims left by a killed process are nobody's any
            # more (a claim a graceful stop kept for an unanswered send waits for its lease)
            released = await db.write(release_abandoned)
            if released:
                log.info("resuming %d deliveries left in flight by a killed process", released)
        self.gateway.feed.delivery_wakers.append(self.wake)
        self.gateway.feed.queued_elsewhere.append(self.look_again)
        self._task = asyncio.create_task(self._run(), name="dispatcher")

    def stop_claiming(self, grace: float) -> float:
        """Claim nothing more; the sends in flight have `grace` seconds from the first call to
        finish. Answers when that grace ends, in loop time."""
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + grace
        self._closing = True
        if self._retries or self._next_due is not None or self._queued or self._behind:
            self._tell_as_it_ends = True
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        self._behind.clear()
        with contextlib.suppress(ValueError):
            self.gateway.feed.delivery_wakers.remove(self.wake)
        with contextlib.suppress(ValueError):
            self.gateway.feed.queued_elsewhere.remove(self.look_again)
        self.wake()
        return self._deadline

    async def stop(self, grace: float) -> None:
        """Stop claiming and let the sends in flight finish within the grace.

        Deliveries still unfinished when the grace ends are cancelled. One that has not
        reached the provider lets go of its claim, so the next start sends it at once; one
        whose send is still unanswered keeps its claim, and is tried again only when the
        lease ends: the provider may have taken it.
        """
        deadline = self.stop_claiming(grace)
        loop = asyncio.get_running_loop()
        if self._task is not None:
            # the current claim round may still hand out jobs: those count as in flight too
            await asyncio.wait({self._task}, timeout=max(0.0, deadline - loop.time()))
            await _cancel([self._task])
            self._task = None
        jobs = dict(self._jobs)
        if jobs:
            left = max(0.0, deadline - loop.time())
            log.info(
                "finishing %d sends in flight (%.1f s left of the shutdown grace)", len(jobs), left
            )
            await asyncio.wait(jobs.values(), timeout=left)
        unfinished = [message_id for message_id, task in jobs.items() if not task.done()]
        unanswered = [message_id for message_id in unfinished if message_id in self._unanswered]
        idle = [message_id for message_id in unfinished if message_id not in self._unanswered]
        await _cancel([jobs[message_id] for message_id in unfinished])
        self._jobs.clear()
        if unanswered:
            log.warning(
                "the provider had not answered %d sends when the shutdown grace ended; each is "
                "tried again once its claim's lease ends",
                len(unanswered),
            )
        # On PostgreSQL the other nodes may have looked before this node's retries were
        # stored, and while a paced queue waits they look again only when told: told now,
        # their next look finds when the first falls due (a claim let go or kept until its
        # lease ends tells them too, as it is written).
        tell = self._tell_as_it_ends and not self.gateway.db.sqlite
        if not unfinished and not tell:
            return

        def settle_claims(session: Session) -> None:
            releaser(idle)(session)
            lease_keeper(unanswered)(session)
            if tell:
                tell_sends_queued(session)

        try:
            await self.gateway.db.write(settle_claims)
        except Exception:
            # the database away is a warning; anything else an ERROR with its traceback
            if unfinished:
                log_failure(
                    log,
                    "could not let go of %d claimed deliveries; their lease will lapse",
                    len(unfinished),
                )
            else:
                log_failure(log, "could not tell the other nodes of the sends this node leaves")

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            timeout = self.poll_seconds
            try:
                timeout = await self._claim_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log_failure(log, "looking for due deliveries failed")
            await sleep_until_woken(self._wake, timeout)

    async def _claim_round(self) -> float:
        """Claim what is due into free slots; returns how long to sleep at most.

        The due deliveries are looked up again only when those found by the last look cannot
        fill the free places (the idle workers, and as many claimed ahead of the busy ones)
        and are not held back by their channel's pace, or that look is older than
        TOLD_KEEP_SECONDS (AHEAD_SECONDS while other nodes' sends are not told of; longer
        when looks are slow: see LOOK_SHARE), or another node queued sends since: the claim
        checks each one is still due and heads its recipient's queue, so one sent meanwhile
        (say, by another node) is skipped. The sends this node's API just queued are taken
        as found by a round that does not look, and claimed while a look runs, so a reply
        does not wait for looks at a long queue.
        """
        free = self._free_places()
        if free <= 0:
            return self.poll_seconds
        loop = asyncio.get_running_loop()
        may_look = self._looks.wait() == 0
        stale = (
            loop.time() - self._looked_at > self._keep_seconds
            or self._fell_due()
            or self._queued_elsewhere
        )
        if stale and may_look:
            # What was found ahead may head its recipient's queue no more: a message that
            # fell due since (a retry's time came, on this node or another) may come before
            # it in the person's conversation.
            self._ahead = []
        queued, self._queued = self._queued, []
        taking: Counter[str] = Counter()
        picked = self._pick(free, taking)
        # Found ahead and not picked while workers are free: held back by their channel's
        # pace. A new look would find them again; until the found ones are stale, it waits.
        wanted = len(picked) < free and (stale or not self._ahead)
        if wanted and may_look:
            picked = await self._look_and_pick(picked, queued, free, taking)
        elif queued:
            # No look this round (what was found waits for its pace, fills the free places,
            # or the looks' budget is spent): the sends just queued are taken as found, after
            # what was, so a reply on another channel waits for neither (when no place is
            # free, a later round takes them). The claim checks each heads its recipient's
            # queue. A look would find them in their turn instead.
            found = set(self._ahead)
            self._ahead += [c for c in queued if c not in found]
            picked += self._pick(free - len(picked), taking)
        await self._claim(picked)
        if wanted and not may_look:
            return max(0.01, self._looks.wait())
        return self._until_next_round(loop)

    def _free_places(self) -> int:
        """How many deliveries this round may claim: as many again as there are workers are
        claimed ahead of them, when a claim's lease leaves time to wait for a worker;
        deliveries whose outcome is being recorded hold no worker, but only so many wait."""
        ahead = self.slots if self._longest_wait > 0 else 0
        return min(
            self.slots + ahead - len(self._sending), 2 * self.slots + ahead - len(self._jobs)
        )

    async def _look_and_pick(
        self, picked: list[Candidate], queued: list[Candidate], free: int, taking: Counter[str]
    ) -> list[Candidate]:
        """Look for the due deliveries, claiming the sends this node queues meanwhile; answers
        what to claim of `picked` (from what an older look found, counted by channel in
        `taking`) and of what this one found, up to `free` places."""
        loop = asyncio.get_running_loop()
        stamp = now()
        self._looked_at = loop.time()
        self._queued_elsewhere = False  # this look finds what was queued until now
        limit = self._usual_look * self._look_growth
        look = asyncio.ensure_future(self.gateway.db.read(lambda s: _timed_look(s, stamp, limit)))
        try:
            free -= await self._claim_queued_while(look, free - len(picked), taking)
            due, took = await look
        finally:
            look.cancel()  # (when the round is cancelled, or a claim failed)
        self._looks.spend(took)
        # The new look decides: a message picked from what an older look found, which this
        # look does not name, may head its recipient's queue no more (this look may name an
        # earlier one of the same person), and taking both would put two of the person's
        # messages with the provider at once.
        found = set(due.candidates)
        picked = [c for c in picked if c in found]
        if len(due.candidates) < limit:
            # A look not cut short by its limit names every recipient's head but those with
            # a send in flight: a send handed over that it leaves out waits behind.
            for candidate in queued:
                if candidate not in found:
                    self._wait_behind(candidate)
        kept = set(picked)
        self._ahead = [c for c in due.candidates if c not in kept]
        self._next_due = due.next_due
        return picked + self._pick(free - len(picked), Counter(c.channel_id for c in picked))

    def _until_next_round(self, loop: asyncio.AbstractEventLoop) -> float:
        """How long to sleep, unless woken: until what was found ahead is stale (the poll
        interval when nothing was), or sooner when the next delivery falls due."""
        timeout = self.poll_seconds
        if self._ahead:
            timeout = self._looked_at + self._keep_seconds - loop.time()
        if self._next_due is not None:
            # (one that fell due since the last look keeps what it found stale until the next)
            timeout = min(timeout, (self._next_due - now()).total_seconds())
        return max(0.01, timeout)

    @property
    def _keep_seconds(self) -> float:
        """How long what a look found is taken in its order before the next look: on
        PostgreSQL, while the node does not listen for the sends other nodes queue, a
        quarter of a second."""
        keep = TOLD_KEEP_SECONDS if self.gateway.feed.told_of_sends else AHEAD_SECONDS
        return max(keep, self._looks.cycle)

    @property
    def _look_growth(self) -> int:
        """How many times the usual number a look takes in: enough to last until the next
        look, when looks are slow. A look the budget does not count (see LOOK_FREE) counts
        here: while a queue of thousands is sent as fast as the workers go, each of its looks
        takes tens of milliseconds, and taking in the usual number made five or more looks a
        second (0.3 to 0.4 of a core, against 0.1 to 0.2 at three times the number)."""
        return min(LOOK_GROWTH, max(1, math.ceil(self._looks.span / AHEAD_SECONDS)))

    def _fell_due(self) -> bool:
        """Whether a delivery not due at the last look is due now."""
        return self._next_due is not None and self._next_due <= now()

    async def _claim_queued_while(
        self, look: asyncio.Future[tuple[Due, float]], free: int, taking: Counter[str]
    ) -> int:
        """Claims the sends this node queues while `look` runs, up to `free` (counted in
        `taking` by channel), as found, and answers how many. With a long queue a look takes
        most of a second (see LOOK_SHARE), which a reply to a customer should not wait for."""
        claimed = 0
        while not look.done():
            self._queued_now.clear()
            queued_now = asyncio.ensure_future(self._queued_now.wait())
            either: set[asyncio.Future[Any]] = {look, queued_now}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                queued_now.cancel()
            if not self._queued or claimed >= free:
                continue
            chosen, self._queued = self._choose(self._queued, free - claimed, taking)
            claimed += len(chosen)
            await self._claim(chosen)
        return claimed

    async def _claim(self, picked: list[Candidate]) -> None:
        """Claims those of `picked` still due and heading their recipient's queue, and starts
        sending each."""
        if not picked or self._closing:
            return
        gw = self.gateway
        ids = [c.message_id for c in picked]
        # a claim announces nothing and makes nothing due: its commit wakes nobody
        jobs = await gw.db.write(
            claimer(ids, now(), self.lease, gw.directory, postgres=not gw.db.sqlite),
            quiet=True,
            background=True,
        )
        claimed = {job.message_id for job in jobs}
        for candidate in picked:
            if candidate.message_id in claimed:
                self._behind.pop(candidate.message_id, None)  # (a look's copy was taken)
            elif candidate.handed:
                self._wait_behind(candidate)
        for job in jobs:
            self._spawn(job)

    def _wait_behind(self, candidate: Candidate) -> None:
        """Keep a send handed over that a claim did not take, to offer it again as a send of
        its channel ends: most often its recipient had a send in flight (an agent's second
        reply while the first is with the provider), and it heads their queue once that one
        is recorded. A look would find it only in its turn: while a long paced queue waits,
        seconds later.

        One not taken for another reason (sent meanwhile by another node, say) costs a claim
        that finds nothing at each offer: it is offered at most BEHIND_OFFERS times, kept at
        most BEHIND_SECONDS (longer than a send in flight holds its recipient), and at most
        a look's worth are kept; the looks find the rest in their turn.
        """
        loop_now = asyncio.get_running_loop().time()
        for message_id, (_, since) in list(self._behind.items()):
            if loop_now - since > BEHIND_SECONDS:
                del self._behind[message_id]
        if (
            self._closing
            or candidate.handed > BEHIND_OFFERS
            or len(self._behind) >= self._usual_look
            # this node is sending it, or sent it: a look found it too
            or candidate.message_id in self._jobs
            or candidate.message_id in self._ended
        ):
            return
        self._behind[candidate.message_id] = (candidate, loop_now)

    def _offer_behind(self, channel_id: str) -> None:
        """Offer again the sends kept behind one of `channel_id` that just ended."""
        again = [c for c, _ in self._behind.values() if c.channel_id == channel_id]
        for candidate in again:
            del self._behind[candidate.message_id]
        if again:
            self._queued += (replace(c, handed=c.handed + 1) for c in again)
            self._queued_now.set()

    def _pick(self, free: int, taking: Counter[str]) -> list[Candidate]:
        """Up to `free` of the deliveries found ahead that the channels' pace lets go now,
        counted in `taking` by channel; they leave `_ahead`, as do those being sent."""
        chosen, self._ahead = self._choose(self._ahead, free, taking)
        return chosen

    def _choose(
        self, candidates: list[Candidate], free: int, taking: Counter[str]
    ) -> tuple[list[Candidate], list[Candidate]]:
        """Up to `free` of `candidates` that the channels' pace lets go now, counted in
        `taking` by channel, and those left (not those being sent)."""
        chosen: list[Candidate] = []
        left: list[Candidate] = []
        # Channels found at their limit stay there for this call (it only adds sends): a
        # slow look takes in thousands, mostly of one paced channel, and this runs at every
        # wake-up, so each of those costs a set lookup here, not the pacer's arithmetic.
        full: set[str] = set()
        for n, candidate in enumerate(candidates):
            if len(chosen) >= free:
                left += candidates[n:]
                break
            if candidate.message_id in self._jobs:
                continue
            channel_id = candidate.channel_id
            if channel_id in full:
                left.append(candidate)
                continue
            limit = self.pacer.in_flight_limit(channel_id)
            if limit is not None and self._busy[channel_id] + taking[channel_id] >= limit:
                full.add(channel_id)
                left.append(candidate)
                continue
            chosen.append(candidate)
            taking[channel_id] += 1
        return chosen, left

    def _spawn(self, job: Job) -> None:
        self._busy[job.channel_id] += 1
        task = asyncio.create_task(self._deliver(job), name=f"deliver-{job.message_id}")
        self._jobs[job.message_id] = task
        self._sending.add(job.message_id)

        def done(_: asyncio.Task[None]) -> None:
            self._jobs.pop(job.message_id, None)
            self._sending.discard(job.message_id)
            self._let_worker_go(job.message_id)
            self._busy[job.channel_id] -= 1
            again: list[QueuedSend] = []
            if job.message_id in self._let_go:
                self._let_go.discard(job.message_id)
                again.append(QueuedSend(job.message_id, job.channel_id))
            else:
                self._ended[job.message_id] = None
                if len(self._ended) > 4 * self._usual_look:
                    del self._ended[next(iter(self._ended))]
            self._behind.pop(job.message_id, None)
            self._offer_behind(job.channel_id)
            self.wake(again)

        task.add_done_callback(done)

    async def _deliver(self, job: Job) -> None:
        try:
            if not await self._take_worker(job):
                return
            await self._send(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # the claim lapses and another attempt follows (of the parts whose sending was
            # not recorded: a part the provider took is sent again unless its answer was)
            log_failure(log, "delivering message %s on %s failed", job.message_id, job.channel_id)

    async def _send(self, job: Job) -> None:
        gw = self.gateway
        adapter = gw.adapters.get(job.channel_id)
        if adapter is None:
            reason = f"channel {job.channel_id} is not configured any more"
            await gw.db.write(
                fail_now(job.message_id, "CHANNEL_NOT_CONFIGURED", reason, gw.directory),
                background=True,
            )
            return
        try:
            content = MessageContent.model_validate(links_as_text(job.content))
            rendered = render(content, adapter.capabilities)
        except Exception as exc:
            log.exception("message %s cannot be shown on %s", job.message_id, job.channel_id)
            await gw.db.write(
                fail_now(job.message_id, "UNRENDERABLE", str(exc)[:500], gw.directory),
                background=True,
            )
            return
        total = len(rendered.parts)
        for index in range(job.parts_sent, total):
            outbound = OutboundPart(
                part=rendered.parts[index],
                recipient=job.recipient,
                message_id=job.message_id,
                conversation_id=job.conversation_id,
                index=index,
                agent_window=job.agent_window,
                is_response=job.is_response,
                wire_message=job.wire_message,
            )
            await self.pacer.acquire(job.channel_id)
            # the last part's record finishes the delivery in the same write
            menu = rendered.menu if index == total - 1 else None
            with self._awaiting_answer(job.message_id):
                if not await self._send_part(job, adapter, outbound, total, menu):
                    return
        if job.parts_sent >= total:
            # nothing left to send (no parts, or every part was recorded before a stop)
            write = finisher(job.message_id, rendered.menu, gw.directory)
            await self._record(job, lambda: gw.db.write(write, background=True))

    @contextlib.contextmanager
    def _awaiting_answer(self, message_id: str) -> Iterator[None]:
        """Marks a delivery whose part the provider may have, until the outcome is recorded."""
        self._unanswered.add(message_id)
        try:
            yield
        finally:
            self._unanswered.discard(message_id)

    async def _send_part(
        self,
        job: Job,
        adapter: Adapter,
        outbound: OutboundPart,
        total: int,
        finish_with: Sequence[Choice] | None,
    ) -> bool:
        """Send one part and record the outcome; False when the delivery stops here.

        With `finish_with` (the menu the message carries, for its last part) the same write
        marks the delivery finished.
        """
        gw = self.gateway
        handed_over_at = now()
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(adapter.send(outbound), self.send_timeout)
        except SendError as error:
            self._answered(job)
            await self._failed(job, error)
            return False
        except (TimeoutError, OSError) as exc:
            self._answered(job)
            await self._failed(job, network_error(exc))
            return False
        except Exception as exc:
            log.exception("adapter of %s raised while sending", job.channel_id)
            self._answered(job)
            unexpected = SendError(
                str(exc) or type(exc).__name__, code="ADAPTER_ERROR", retryable=True
            )
            await self._failed(job, unexpected)
            return False
        if finish_with is not None:
            self._answered(job)
        gw.metrics.send_latency.labels(job.channel_id).observe(time.perf_counter() - started)
        gw.metrics.messages_out.labels(job.channel_id).inc()
        sent = SentPart(
            job.message_id,
            outbound.index,
            total,
            result.provider_message_id,
            result.status,
            self.lease,
            handed_over_at,
            gw.directory,
            finish_with,
        )
        await self._record(job, lambda: gw.db.write_batched(RECORD_SENT, sent))
        return True

    def _answered(self, job: Job) -> None:
        """The provider answered the delivery's last send: its worker may take the next one."""
        self._let_worker_go(job.message_id)
        if job.message_id in self._sending:
            self._sending.discard(job.message_id)
            self.wake()

    async def _take_worker(self, job: Job) -> bool:
        """Wait for a free worker; False when the wait outlasted what the claim's lease allows
        (the claim is let go then, for a later round to take with a fresh lease)."""
        if self._workers.locked() and self._longest_wait > 0:
            try:
                await asyncio.wait_for(self._workers.acquire(), self._longest_wait)
            except TimeoutError:
                log.info(
                    "message %s waited too long for a free worker; it is claimed again later",
                    job.message_id,
                )
                release = releaser([job.message_id])
                await self._record(
                    job, lambda: self.gateway.db.write(release, quiet=True, background=True)
                )
                self._let_go.add(job.message_id)
                return False
        else:
            await self._workers.acquire()
        self._holding.add(job.message_id)
        return True

    def _let_worker_go(self, message_id: str) -> None:
        if message_id in self._holding:
            self._holding.discard(message_id)
            self._workers.release()

    async def _failed(self, job: Job, error: SendError) -> None:
        gw = self.gateway
        gw.metrics.send_failures.labels(job.channel_id, str(error.retryable).lower()).inc()
        if error.config_problem:
            log.error(
                "channel %s refused a send because of its settings: %s", job.channel_id, error
            )
        record = failure_recorder(
            job.message_id, error, gw.config.delivery.retry_delays, gw.directory, self.uniform
        )
        outcome = await self._record(job, lambda: gw.db.write(record, background=True))
        if outcome.failed:
            log.warning(
                "message %s could not be delivered on %s: %s", job.message_id, job.channel_id, error
            )
        else:
            log.info(
                "message %s on %s will be tried again at %s: %s",
                job.message_id,
                job.channel_id,
                outcome.next_attempt_at,
                error,
            )
            if outcome.next_attempt_at is not None:
                self._retry_when_due(job, outcome.next_attempt_at)

    def _retry_when_due(self, job: Job, due: datetime) -> None:
        """Hand the retry to a round when it falls due, as the API hands over what it queues:
        while a long paced queue waits, the next look may be seconds away. A round takes it
        as found; its claim checks that it is due and heads its recipient's queue.

        Past a look's worth of retries waiting (a provider's outage), the rest are left to
        the looks, which rank them with every other due delivery: the first of them to fall
        due starts one.
        """
        previous = self._retries.pop(job.message_id, None)
        if previous is not None:
            previous.cancel()
        if self._closing:
            self._tell_as_it_ends = True  # (refused during the stop's grace)
            return
        if len(self._retries) >= self._usual_look:
            # a look when the first of these falls due, whatever the last one found
            self._next_due = due if self._next_due is None else min(self._next_due, due)
            return
        send = QueuedSend(job.message_id, job.channel_id)
        delay = max(0.0, (due - now()).total_seconds()) + RETRY_MARGIN
        loop = asyncio.get_running_loop()
        self._retries[job.message_id] = loop.call_later(delay, self._retry_due, send)

    def _retry_due(self, send: QueuedSend) -> None:
        del self._retries[send.message_id]
        self._ended.pop(send.message_id, None)  # (to be sent again)
        self.wake([send])

    async def _record(self, job: Job, write: Callable[[], Awaitable[T]]) -> T:
        """Write what the provider answered, waiting out a database outage: an answer not
        recorded would have the part sent again once the claim's lease ends."""
        delay = RECORD_RETRY_FIRST
        while True:
            try:
                return await write()
            except Exception as exc:
                if not unreachable(exc):
                    raise
                log.warning(
                    "the database cannot be reached; recording message %s's send again in %.1f s",
                    job.message_id,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_LAST)


def _timed_look(session: Session, stamp: datetime, limit: int) -> tuple[Due, float]:
    """What a look for due deliveries found, and the seconds it took, timed in the reader's
    thread: the wait for the reader grows with the load, not with what a look costs."""
    started = time.perf_counter()
    due = find_due(session, stamp, limit)
    return due, time.perf_counter() - started


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until they have ended."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
