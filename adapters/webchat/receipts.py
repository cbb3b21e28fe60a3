"""Visitors' receipts (DELIVERED), written once the send they confirm is recorded.

The gateway publishes a reply to the visitor's socket as soon as it is stored, before the
dispatcher has handed it to this adapter's `send()` and recorded it as sent. A receipt written
at once would be a status that beat the send, which the gateway must keep aside and apply
later, the long way, for every reply. So a receipt waits until `send()` has confirmed its
message here and `AFTER_SEND` seconds more (the record is written right after `send()`), or
`AT_MOST` seconds when the message is sent by another node; the receipts due together (of
many sockets, and of one visitor's several tabs) share one write. On an unpaced channel the
gateway records a reply SENT in the commit that stores it and then says so (`stored_sent`,
which confirms it here as `send()` does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from channels import ChannelHost, DeliveryStatus, InboundEvent, StatusUpdate

log = logging.getLogger(__name__)

#: seconds a receipt waits after its message's `send()`, for the send's record to be written
AFTER_SEND = 0.25
#: seconds a receipt waits at most (its message sent by another node, or not at all)
AT_MOST = 5.0
#: how often waiting receipts are looked at
TICK = AFTER_SEND / 2


class Receipts:
    """The receipts of one web chat channel, each written once its send is recorded."""

    def __init__(self, host: ChannelHost, clock: Callable[[], float] = time.monotonic) -> None:
        self._host = host
        self._clock = clock
        #: message id -> when its receipt is written
        self._waiting: dict[str, float] = {}
        #: message id -> when `send()` confirmed it (forgotten after AT_MOST)
        self._sent: OrderedDict[str, float] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add(self, message_ids: Iterable[str]) -> None:
        """The visitor's page got these messages: report them DELIVERED once they are sent."""
        now = self._clock()
        for message_id in message_ids:
            if message_id in self._waiting:
                continue  # another tab's receipt: one is enough
            sent = self._sent.get(message_id)
            self._waiting[message_id] = now + AT_MOST if sent is None else sent + AFTER_SEND
        if self._waiting and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="webchat-receipts")

    def sent(self, message_id: str) -> None:
        """`send()` confirmed the message: its record is being written."""
        now = self._clock()
        if message_id in self._waiting:
            self._waiting[message_id] = min(self._waiting[message_id], now + AFTER_SEND)
            return
        self._sent[message_id] = now
        while self._sent and next(iter(self._sent.values())) < now - AT_MOST:
            self._sent.popitem(last=False)

    async def _run(self) -> None:
        while self._waiting and not self._stopping:
            await asyncio.sleep(TICK)
            now = self._clock()
            ready = [message_id for message_id, due in self._waiting.items() if due <= now]
            for message_id in ready:
                del self._waiting[message_id]
                self._sent.pop(message_id, None)
            await self._write(ready)

    async def _write(self, message_ids: list[str]) -> None:
        updates: list[InboundEvent] = [
            StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id=message_id)
            for message_id in message_ids
        ]
        if not updates:
            return
        try:
            await self._host.ingest(updates)
        except Exception:
            log.exception("web chat: storing visitors' receipts failed")

    async def stop(self) -> None:
        """Write every receipt still waiting (the channel is stopping)."""
        self._stopping = True
        if self._task is not None:
            await self._task  # a write under way is finished, not cut short
        ready = list(self._waiting)
        self._waiting.clear()
        await self._write(ready)
