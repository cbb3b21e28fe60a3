"""A `ChannelHost` that keeps in memory what an adapter hands it, for adapter tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.adapter import IngestOutcome, Session
from channels.events import InboundEvent, InboundMessage, Participant, VerifiedIdentity
from channels.limits import InMemoryLimits, Limits
from channels.text import refuse_unstorable


class _Feed:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Mapping[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Mapping[str, Any]]:
        while not self.closed:
            yield await self.queue.get()

    def close(self) -> None:
        self.closed = True


@dataclass
class RecordingHost:
    """A `ChannelHost` that keeps what adapters hand it in memory, for adapter tests.

    It behaves as the gateway's host does where an adapter can tell: `ingest` refuses events
    holding text no database can keep (NUL characters, lone surrogates) by raising
    `channels.UnstorableText` before storing any of them, and dedupes inbound messages on
    their provider id, so a test can see that a retried webhook keeps a stable id.
    """

    channel_id: str = "test"
    public_url: str = "http://127.0.0.1:8080"
    events: list[InboundEvent] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    stored_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    feeds: dict[str, list[_Feed]] = field(default_factory=dict)
    merged: list[tuple[str, str]] = field(default_factory=list)
    #: counted as the gateway counts (in memory); a test may pass its own, with a clock
    limits: Limits = field(default_factory=InMemoryLimits)
    _seen: set[str] = field(default_factory=set)

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        refuse_unstorable(events)
        outcomes = []
        for event in events:
            if isinstance(event, InboundMessage):
                if event.provider_message_id in self._seen:
                    outcomes.append(IngestOutcome(stored=False, duplicate=True))
                    continue
                self._seen.add(event.provider_message_id)
                session = await self.open_session(event.participant)
                history = self.stored_messages.setdefault(event.participant.address, [])
                message = {
                    "id": f"msg-{len(self.events)}",
                    "conversationId": session.conversation_id,
                    "content": event.content.wire(),
                    "sequence": str(len(history) + 1),
                    "direction": event.direction.value,
                }
                history.append(message)
                self.events.append(event)
                outcomes.append(
                    IngestOutcome(
                        stored=True, conversation_id=session.conversation_id, message=message
                    )
                )
            else:
                self.events.append(event)
                outcomes.append(IngestOutcome(stored=True))
        return outcomes

    async def open_session(
        self,
        participant: Participant,
        *,
        verified: VerifiedIdentity | None = None,
        previous: Participant | None = None,
        carry_id: Callable[[str], str] | None = None,
    ) -> Session:
        key = verified.user_id if verified else participant.address
        if previous is not None:
            self.merged.append((previous.address, key))
            if carry_id is not None:
                self._carry(previous.address, carry_id)
        if key not in self.sessions:
            kind = "contactId" if verified or not participant.anonymous else ("anonymousVisitorId")
            self.sessions[key] = Session(
                conversation_id=f"conv-{key}",
                participant_kind=kind,  # type: ignore[arg-type]
                participant_id=key,
            )
        return self.sessions[key]

    def _carry(self, address: str, carry_id: Callable[[str], str]) -> None:
        """The provider ids of `address`'s messages become what `carry_id` makes of them."""
        for event in self.events:
            if isinstance(event, InboundMessage) and event.participant.address == address:
                self._seen.discard(event.provider_message_id)
                self._seen.add(carry_id(event.provider_message_id))

    async def history(self, participant: Participant, after_sequence: int) -> list[dict[str, Any]]:
        return [
            m
            for m in self.stored_messages.get(participant.address, [])
            if int(m["sequence"]) > after_sequence
        ]

    def subscribe(self, participant: Participant) -> _Feed:
        feed = _Feed()
        self.feeds.setdefault(participant.address, []).append(feed)
        return feed

    def publish(self, address: str, message: Mapping[str, Any]) -> None:
        """Hand a stored message to the participant's open subscriptions."""
        for feed in self.feeds.get(address, []):
            feed.queue.put_nowait(message)

    def secret(self, name: str) -> bytes:
        return hashlib.sha256(f"recording-host:{name}".encode()).digest()

    def footprint(self) -> tuple[int, int, int, int]:
        """How much the adapter has handed over: events, stored messages, sessions, merges."""
        stored = sum(len(messages) for messages in self.stored_messages.values())
        return len(self.events), stored, len(self.sessions), len(self.merged)
