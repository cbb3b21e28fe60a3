"""Test helpers for adapter authors: a recording host and request builders.

Public so that third-party adapters test themselves the way the built-ins do.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from channels.adapter import IngestOutcome, Session, WebhookRequest
from channels.events import InboundEvent, InboundMessage, Participant, VerifiedIdentity


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

    It dedupes inbound messages on their provider id as the gateway's store does, so a test
    can see that an adapter gives a stable id to a retried webhook.
    """

    channel_id: str = "test"
    public_url: str = "http://127.0.0.1:8080"
    events: list[InboundEvent] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    stored_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    feeds: dict[str, list[_Feed]] = field(default_factory=dict)
    merged: list[tuple[str, str]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
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
    ) -> Session:
        key = verified.user_id if verified else participant.address
        if previous is not None:
            self.merged.append((previous.address, key))
        if key not in self.sessions:
            kind = "contactId" if verified or not participant.anonymous else (
                "anonymousVisitorId"
            )
            self.sessions[key] = Session(
                conversation_id=f"conv-{key}",
                participant_kind=kind,  # type: ignore[arg-type]
                participant_id=key,
            )
        return self.sessions[key]

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


def form_request(
    path: str,
    fields: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    public_url: str = "http://127.0.0.1:8080",
    headers: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A form-encoded POST as a provider would send it."""
    body = urlencode(list(fields.items()) if isinstance(fields, Mapping) else list(fields))
    all_headers = {"content-type": "application/x-www-form-urlencoded"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return WebhookRequest(
        method="POST",
        path=path,
        query={},
        headers=all_headers,
        body=body.encode(),
        public_url=public_url.rstrip("/") + path,
    )


def json_request(
    path: str,
    body: bytes,
    *,
    public_url: str = "http://127.0.0.1:8080",
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    query: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A JSON request with the raw body as given (providers sign the exact bytes)."""
    all_headers = {"content-type": "application/json"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return WebhookRequest(
        method=method,
        path=path,
        query=dict(query or {}),
        headers=all_headers,
        body=body,
        public_url=public_url.rstrip("/") + path,
    )
