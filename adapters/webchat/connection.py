"""One visitor's WebSocket: frames in become events for the host; stored messages go out."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.webchat.flood import FloodGate
from adapters.webchat.limits import ChannelLimits, visitor_of
from adapters.webchat.message_keys import message_key
from adapters.webchat.protocol import (
    CLOSE_INVALID_TOKEN,
    BadFrame,
    Interact,
    Read,
    SendMessage,
    Sync,
    error_frame,
    parse_frame,
)
from adapters.webchat.receipts import Receipts
from channels import (
    AddressRetired,
    ButtonPressed,
    ChannelHost,
    DeliveryStatus,
    Direction,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    Participant,
    ReadUpTo,
    Socket,
    Subscription,
)

log = logging.getLogger(__name__)

_SETTLED = {DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value, DeliveryStatus.FAILED.value}


#: a `history` frame carries messages up to about this many characters of JSON (and always at
#: least one): the page a `sync` answers is bounded in size as well as in messages
HISTORY_FRAME_CHARS = 512 * 1024


def within_budget(messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The first messages whose JSON fits in `budget` characters (at least one)."""
    used = 0
    for count, message in enumerate(messages):
        used += len(json.dumps(message, separators=(",", ":")))
        if used > budget and count > 0:
            return messages[:count]
    return messages


class VisitorConnection:
    """Serves one open socket of one visitor until either side closes it."""

    def __init__(
        self,
        host: ChannelHost,
        participant: Participant,
        socket: Socket,
        flood: FloodGate,
        limits: ChannelLimits,
        client: str,
        receipts: Receipts,
    ) -> None:
        self._host = host
        self._participant = participant
        self._socket = socket
        self._flood = flood
        self._limits = limits
        self._client = client
        self._receipts = receipts
        self._flood_key = visitor_of(participant)
        # Held while a message is stored and acknowledged, so the visitor's own echo from the
        # subscription never overtakes the ack that tells the widget the message's id.
        self._order = asyncio.Lock()
        self._write = asyncio.Lock()
        self._acked: deque[str] = deque(maxlen=256)
        self._gone = False
        #: the token's address no longer opens the conversation: the pump closes the socket
        self._retired = False

    async def run(self, subscription: Subscription) -> None:
        """Read frames until the socket closes, pushing the conversation's new messages.

        `subscription` was opened before the socket's first frame, so a `sync` covers
        everything stored earlier and the subscription everything stored later.
        """
        pump = asyncio.create_task(self._pump(subscription))
        try:
            async for text in self._socket.receive():
                await self._handle(text)
                if self._gone:
                    break
        finally:
            if not self._retired:
                pump.cancel()
            # else the pump is closing the socket itself (cancelled, the close frame is lost)
            await asyncio.wait([pump])

    async def close(self, code: int = 1001, message: str = "") -> None:
        """Close the socket (the gateway is stopping)."""
        self._gone = True
        try:
            await self._socket.close(code=code, message=message)
        except Exception:  # the visitor may already be gone
            log.debug("closing a web chat socket failed", exc_info=True)

    async def _send(self, frame: Mapping[str, Any]) -> None:
        if self._gone:
            return
        async with self._write:
            try:
                await self._socket.send_json(frame)
            except Exception:
                # A visitor who closed the tab is not an error; stop writing to them.
                self._gone = True
                log.debug("web chat socket went away", exc_info=True)

    async def _ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome] | None:
        try:
            return await self._host.ingest(events)
        except Exception:
            log.exception("web chat: storing a visitor's event failed")
            return None

    async def _handle(self, text: str) -> None:
        try:
            frame = parse_frame(text)
        except BadFrame as exc:
            if await self._limits.read_or_sync(self._flood_key):
                await self._send(error_frame(exc.code, exc.message, exc.client_message_id))
            return
        if isinstance(frame, SendMessage):
            await self._message(frame)
        elif isinstance(frame, Interact):
            await self._interact(frame)
        elif not await self._limits.read_or_sync(self._flood_key):
            # each costs a read of the history or a write: counted, then refused
            await self._send(error_frame("RATE_LIMITED", "too many requests; wait a moment"))
        elif isinstance(frame, Read):
            await self._simple(ReadUpTo(participant=self._participant, sequence=frame.sequence))
        elif isinstance(frame, Sync):
            await self._sync(frame.after_sequence)

    async def _may_write(self) -> bool:
        """Count a message or button press: this visitor's, and their address's."""
        if not self._flood.allow(self._flood_key):
            return False
        return await self._limits.message(self._client) is None

    async def _message(self, frame: SendMessage) -> None:
        cid = frame.client_message_id
        if not await self._may_write():
            await self._send(
                error_frame("RATE_LIMITED", "too many messages; wait a moment and send again", cid)
            )
            return
        event = InboundMessage(
            provider_message_id=message_key(self._participant.address, cid),
            participant=self._participant,
            content=frame.content,
            occurred_at=datetime.now(UTC),
        )
        async with self._order:
            outcomes = await self._ingest([event])
            if not outcomes:
                await self._send(
                    error_frame("UNAVAILABLE", "the message was not stored; send it again", cid)
                )
                return
            ack: dict[str, Any] = {"type": "ack", "clientMessageId": cid}
            stored = outcomes[0].message
            if stored is not None:
                ack["message"] = dict(stored)
                if isinstance(stored.get("id"), str):
                    self._acked.append(stored["id"])
            await self._send(ack)

    async def _interact(self, frame: Interact) -> None:
        if not await self._may_write():
            await self._send(error_frame("RATE_LIMITED", "too many actions; wait a moment"))
            return
        pressed = ButtonPressed(
            participant=self._participant,
            message_id=frame.message_id,
            interaction_id=frame.interaction_id,
            occurred_at=datetime.now(UTC),
        )
        outcomes = await self._ingest([pressed])
        if outcomes is None:
            await self._send(error_frame("UNAVAILABLE", "the gateway could not record that"))
        elif not any(outcome.stored for outcome in outcomes):
            text = "no message of the business in this chat has that button"
            await self._send(error_frame("BAD_FRAME", text))

    async def _simple(self, event: InboundEvent) -> None:
        if await self._ingest([event]) is None:
            await self._send(error_frame("UNAVAILABLE", "the gateway could not record that"))

    async def _sync(self, after_sequence: int) -> None:
        try:
            messages = await self._host.history(self._participant, after_sequence)
        except Exception:
            log.exception("web chat: reading history failed")
            await self._send(error_frame("UNAVAILABLE", "history is not available right now"))
            return
        page = within_budget(messages, HISTORY_FRAME_CHARS)
        frame: dict[str, Any] = {"type": "history", "messages": page}
        if len(page) < len(messages):
            frame["more"] = True  # the widget asks again after the last message of this page
        await self._send(frame)
        self._delivered(page)

    async def _pump(self, subscription: Subscription) -> None:
        messages = aiter(subscription)
        try:
            while await self._push_next(messages):
                pass
        except AddressRetired:
            # The site identified this visitor (here or in another tab, or this is a copy of
            # their token): the anonymous token now opens a new, empty conversation, which the
            # widget starts when the socket closes as one with an invalid token.
            text = "this chat now belongs to a signed-in person; open a new session"
            await self._send(error_frame("INVALID_TOKEN", text))
            self._retired = True
            await self.close(CLOSE_INVALID_TOKEN, "INVALID_TOKEN")
        except Exception:
            # The visitor keeps the socket; a reconnect's `sync` recovers what was missed.
            log.exception("web chat: the conversation feed failed")

    async def _push_next(self, messages: AsyncIterator[Mapping[str, Any]]) -> bool:
        """Push the conversation's next message to the socket; False once the feed or the
        socket has ended.

        The message is this call's own: while the socket waits for the next one (minutes, or
        never) it holds none. A loop's variable would keep each quiet visitor's last reply
        alive, ten thousand of them with as many sockets; surviving young collections, they
        pass through the collector's older generations, whose collections then take longer
        and come more often, stopping the event loop for every socket.
        """
        try:
            message = await anext(messages)
        except StopAsyncIteration:
            return False
        # Checked under the lock: a message this socket sent may reach the feed before its
        # ack is written, and must not be pushed again after the ack.
        async with self._order:
            if message.get("id") in self._acked:
                return True  # this socket already has it, in the ack
            await self._send({"type": "message", "message": dict(message)})
        if self._gone:
            return False
        self._delivered([message])
        return True

    def _delivered(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Tell the host which business messages this visitor has now received."""
        if self._gone:
            return
        self._receipts.add(m["id"] for m in messages if self._awaits_delivery(m))

    def _awaits_delivery(self, message: Mapping[str, Any]) -> bool:
        if message.get("direction") != Direction.BUSINESS_TO_PARTICIPANT.value:
            return False
        if not isinstance(message.get("id"), str):
            return False
        delivery = message.get("delivery")
        if isinstance(delivery, Mapping):
            # A message sent to the same person on another channel is not ours to mark.
            if delivery.get("channelId") not in (None, self._host.channel_id):
                return False
            return delivery.get("status") not in _SETTLED
        return True
