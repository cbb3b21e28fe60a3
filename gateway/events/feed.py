"""The live feed: new outbox events handed to in-process listeners (sockets, workers).

A listener either takes every event (the inbox page) or follows conversations (a web chat
visitor): the feed keeps the latter in an index by conversation id, so an event costs the
same whatever the number of visitors connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from gateway.events.outbox import OutboxEvent, newest_seq
from gateway.events.wakeups import OutboxWakeups
from gateway.store.database import Database, log_failure
from gateway.store.models import EventRow
from gateway.store.writer import Committed

log = logging.getLogger(__name__)

#: how often the feed looks for events written by other nodes when nothing woke it
POLL_SECONDS = 1.0
#: on PostgreSQL, the same while other nodes' NOTIFYs wake it (polling is only the fallback)
FALLBACK_POLL_SECONDS = 30.0
#: how long a missing event number may be another node's transaction still committing; after
#: that it is taken for a rolled-back one (PostgreSQL sequences leave such holes)
GAP_PATIENCE = 5.0


#: events a listener holds for its consumer at most; past that its oldest are dropped
LISTENER_BACKLOG = 10_000


class Listener:
    """One consumer's backlog of events; a slow consumer loses nothing but its own backlog.

    An async iterator over a deque and one future while its consumer waits: an
    `asyncio.Queue` and a generator around it would be a dozen objects more for each of
    thousands of web chat sockets, and every collection of the garbage collector scans them.
    """

    __slots__ = ("_events", "_waiter", "accept", "closed", "conversations")

    def __init__(self, accept: Callable[[OutboxEvent], bool] | None = None) -> None:
        self.accept = accept
        self.closed = False
        #: the conversations it follows (merged ones included); None: it takes every event
        self.conversations: set[str] | None = None
        self._events: deque[OutboxEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: OutboxEvent) -> None:
        if self.closed or (self.accept is not None and not self.accept(event)):
            return
        if len(self._events) >= LISTENER_BACKLOG:
            log.warning("a live listener fell behind; dropping its oldest event")
            self._events.popleft()
        self._events.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def ready(self) -> list[OutboxEvent]:
        """The events offered and not yet taken, taken now."""
        events = list(self._events)
        self._events.clear()
        return events

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> OutboxEvent:
        while not self.closed:
            if self._events:
                return self._events.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        raise StopAsyncIteration


class QueuedSend(NamedTuple):
    """A send this node has just queued: its message, and the channel it goes out on."""

    message_id: str
    channel_id: str


#: called after a commit that may have made deliveries due, with the sends it queued when
#: they are known (an API request's), so they can be taken without a look for them
DeliveryWaker = Callable[[Sequence[QueuedSend]], None]


class EventFeed:
    """Reads the outbox after each commit (and, on PostgreSQL, each other node's NOTIFY) and
    hands each new event to the listeners of every event and to its conversation's."""

    def __init__(self, db: Database, fallback_poll: float = FALLBACK_POLL_SECONDS) -> None:
        self.db = db
        self.fallback_poll = fallback_poll
        self.cursor = 0
        #: listeners of every event
        self.listeners: set[Listener] = set()
        #: listeners of some conversations, by conversation id
        self.followers: dict[str, set[Listener]] = {}
        #: called after each commit that may have appended events (and by `wake`)
        self.wakers: list[Callable[[], None]] = []
        #: called after each commit that may have made deliveries due: any write but the
        #: batched ones, which only store what came in (and by `wake`)
        self.delivery_wakers: list[DeliveryWaker] = []
        #: called when another node queued sends, or let go of the claim on a due one, and
        #: when listening for that begins again (PostgreSQL; see `sends_notified`)
        self.queued_elsewhere: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: events above `cursor` already handed out, when an earlier number is still missing
        self._ahead: set[int] = set()
        self._gap_since: float | None = None
        #: on PostgreSQL, other nodes' commits wake the feed through LISTEN/NOTIFY
        self.wakeups: OutboxWakeups | None = None

    @property
    def poll_seconds(self) -> float:
        """How long the feed waits for a wake-up before it reads the outbox anyway."""
        listening = self.wakeups is not None and self.wakeups.connected
        return self.fallback_poll if listening else POLL_SECONDS

    async def start(self) -> None:
        self.cursor = await self.db.read(newest_seq)
        self.db.writer.on_commit.append(self.committed)
        self._task = asyncio.create_task(self._run(), name="event-feed")
        if not self.db.sqlite:
            self.wakeups = OutboxWakeups(
                self.db.url, self.notified, self._listening, self.sends_notified
            )
            await self.wakeups.start()

    async def stop(self) -> None:
        if self.wakeups is not None:
            await self.wakeups.stop()
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for listener in list(self.listeners):
            listener.close()
        for followers in list(self.followers.values()):
            for listener in list(followers):
                listener.close()

    def wake(self) -> None:
        self._wake.set()
        for waker in self.wakers:
            waker()
        self.deliveries_due()

    def deliveries_due(self, queued: Sequence[QueuedSend] = ()) -> None:
        """Wake whoever sends deliveries: a commit just queued some (`queued`, when known)."""
        for waker in self.delivery_wakers:
            waker(queued)

    def committed(self, news: Committed) -> None:
        """After a group commit: hand out the events it lists, read the table for the rest.

        The events are handed out at once only when they come right after the last one
        handed out; otherwise (other writes in the commit, another node's events in between,
        a read still due) the table is read, so listeners get events in outbox order.
        """
        first = news.events[0].seq if news.events else None
        if news.complete and first == self.cursor + 1 and not self._wake.is_set():
            self.hand_out(news.events)
        elif news.events or not news.complete:
            self._wake.set()
        if news.events or not news.complete:
            for waker in self.wakers:
                waker()
        if not news.complete:
            self.deliveries_due()

    def notified(self, seq: int) -> None:
        """A node (this one or another) committed events up to `seq`: read those not seen."""
        if seq > self.cursor and seq not in self._ahead:
            self._wake.set()
            for waker in self.wakers:
                waker()

    def sends_notified(self, backend_pid: int) -> None:
        """A node queued sends (its server process `backend_pid`): another node's are news to
        the dispatcher, which is handed this node's own as they are stored."""
        if not self.db.sent_by_this_node(backend_pid):
            self._queued_elsewhere()

    def _queued_elsewhere(self) -> None:
        for waker in self.queued_elsewhere:
            waker()

    @property
    def told_of_sends(self) -> bool:
        """Whether sends queued elsewhere are told of as they are (PostgreSQL: while the
        node listens for them); SQLite's one process needs no telling."""
        return self.db.sqlite or (self.wakeups is not None and self.wakeups.connected)

    def _listening(self, connected: bool) -> None:
        # (re)connected: what was committed while nobody listened is read now; dropped: the
        # feed goes back to polling every second, which the wake-up starts
        self._wake.set()
        if connected:
            for waker in self.wakers:
                waker()
        # connected: sends may have been queued while nobody listened; dropped: the dispatcher
        # looks as often as when it is not told of them
        self._queued_elsewhere()

    def listen(self, accept: Callable[[OutboxEvent], bool] | None = None) -> Listener:
        """A listener of every event (that `accept` takes)."""
        listener = Listener(accept)
        self.listeners.add(listener)
        return listener

    def follow(self, listener: Listener, conversation_id: str) -> None:
        """From now on `listener` gets only the events of the conversations it follows.

        A listener made by `listen` takes every event until it first follows one, so that
        nothing is missed while its conversation is still being looked up. A followed
        conversation merged into another brings the listener that one's events too.
        """
        if listener.closed:
            return
        if listener.conversations is None:
            listener.conversations = set()
            self.listeners.discard(listener)
        listener.conversations.add(conversation_id)
        self.followers.setdefault(conversation_id, set()).add(listener)

    def unlisten(self, listener: Listener) -> None:
        listener.close()
        self.listeners.discard(listener)
        for conversation_id in listener.conversations or ():
            followers = self.followers.get(conversation_id)
            if followers is not None:
                followers.discard(listener)
                if not followers:
                    del self.followers[conversation_id]

    async def _run(self) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that stops the feed when a wake-up arrives at the same moment.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                if not self._audience_at_all():
                    # nobody to hand events to (no socket, page or subscriber here): only
                    # where the outbox ends matters, for whoever listens from now on
                    last = await self.db.read(newest_seq)
                    if not self._audience_at_all():
                        self.skip_to(last)
                        continue
                    # someone began listening during the read: the events it may await
                    # (stored as its socket opened) are handed out, not skipped
                events = await self.db.read(self._after(self.cursor))
            except Exception:
                log_failure(log, "reading the outbox failed")
                continue
            self.hand_out(events)

    def _audience_at_all(self) -> bool:
        return bool(self.listeners or self.followers)

    def skip_to(self, seq: int) -> None:
        """Pass every event up to `seq` without handing it out (nobody listens)."""
        if seq > self.cursor:
            self.cursor = seq
            self._ahead = {ahead for ahead in self._ahead if ahead > seq}
            self._gap_since = None

    def hand_out(self, events: Sequence[OutboxEvent]) -> None:
        """Offer each new event once; the cursor only passes a hole after GAP_PATIENCE."""
        for event in events:
            seq = event.seq or 0
            if seq <= self.cursor or seq in self._ahead:
                continue
            self._ahead.add(seq)
            for listener in self._audience(event):
                listener.offer(event)
        while self.cursor + 1 in self._ahead:
            self.cursor += 1
            self._ahead.discard(self.cursor)
        if not self._ahead:
            self._gap_since = None
            return
        clock = time.monotonic()
        if self._gap_since is None:
            self._gap_since = clock
        elif clock - self._gap_since > GAP_PATIENCE:
            self.cursor = min(self._ahead) - 1
            self._gap_since = None
            self.hand_out([])

    def _audience(self, event: OutboxEvent) -> set[Listener]:
        """Who gets the event: every-event listeners and its conversation's followers."""
        audience = set(self.listeners)
        if event.conversation_id is None:
            return audience
        audience.update(self.followers.get(event.conversation_id, ()))
        if event.slug == "conversations_merged":
            # the followers of the conversations merged away follow the target from now on
            for old in event.body.get("oldConversationIds") or ():
                for listener in list(self.followers.get(str(old), ())):
                    audience.add(listener)
                    self.follow(listener, event.conversation_id)
        return audience

    @staticmethod
    def _after(cursor: int) -> Callable[[Session], list[EventRow]]:
        def read(session: Session) -> list[EventRow]:
            query = select(EventRow).where(col(EventRow.seq) > cursor).order_by(col(EventRow.seq))
            return list(session.exec(query.limit(500)))

        return read


def message_of(event: OutboxEvent) -> dict[str, Any] | None:
    """The message an event carries, if it is a `message_sent_*` event."""
    message = event.body.get("message") if event.slug.startswith("message_sent_") else None
    return message if isinstance(message, dict) else None
