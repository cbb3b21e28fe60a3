"""Test helpers for adapter authors: a recording host, request builders and the harness.

Public so that third-party adapters test themselves the way the built-ins do.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

from channels.adapter import (
    Adapter,
    HttpHandler,
    IngestOutcome,
    Session,
    WebhookRequest,
    WebhookResponse,
)
from channels.errors import SendError
from channels.events import InboundEvent, InboundMessage, Participant, VerifiedIdentity
from channels.parts import OutboundPart


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
            kind = "contactId" if verified or not participant.anonymous else ("anonymousVisitorId")
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


# --- The adapter harness: table-driven webhook and send cases, and the checks every adapter
# --- must pass (DESIGN "Tests"). Each runner raises one AssertionError naming every failed case.

Predicate = Callable[..., object]


@dataclass(frozen=True)
class WebhookCase:
    """A provider request in, and what the adapter must answer and hand the host.

    `event_types` lists the types of the events the request must produce, in order;
    `event_count` checks only their number. `check(response, events)` may assert more; it
    fails the case by raising AssertionError or returning False.
    """

    name: str
    request: WebhookRequest
    status: int = 200
    body_contains: str | None = None
    event_types: Sequence[type] | None = None
    event_count: int | None = None
    check: Predicate | None = None


@dataclass(frozen=True)
class SendCase:
    """One outbound part, and the result or the classified `SendError` it must give.

    With `retryable` set, the send must raise a `SendError` with that flag (and `error_code`,
    when given); otherwise it must succeed and `check(result)` must hold.
    """

    name: str
    part: OutboundPart
    check: Predicate | None = None
    retryable: bool | None = None
    error_code: str | None = None


def route_handler(adapter: Adapter, method: str, path: str) -> HttpHandler:
    """The adapter's HTTP handler for `method` and `path` (relative, or ending in it)."""
    wanted = path.split("?", 1)[0].strip("/")
    for route in adapter.routes():
        if route.method != method.upper():
            continue
        own = route.path.strip("/")
        if wanted == own or wanted.endswith("/" + own):
            return cast(HttpHandler, route.handler)
    raise AssertionError(f"the adapter has no {method} route for {path!r}")


def _body_text(response: WebhookResponse) -> str:
    body = response.body
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


def _holds(check: Predicate, *args: object) -> str | None:
    """None when the check passes, else why it failed."""
    try:
        outcome = check(*args)
    except AssertionError as exc:
        return f"check failed: {exc}" if str(exc) else "check failed"
    return "check returned False" if outcome is False else None


def _stored_count(host: RecordingHost) -> int:
    return sum(len(messages) for messages in host.stored_messages.values())


async def check_webhook_case(adapter: Adapter, host: RecordingHost, case: WebhookCase) -> None:
    """Run one webhook case; raises AssertionError saying what differed."""
    handler = route_handler(adapter, case.request.method, case.request.path)
    before = len(host.events)
    response = await handler(case.request)
    events = host.events[before:]
    problems: list[str] = []
    if response.status != case.status:
        problems.append(f"status {response.status}, expected {case.status}")
    body = _body_text(response)
    if case.body_contains is not None and case.body_contains not in body:
        problems.append(f"body {body[:200]!r} lacks {case.body_contains!r}")
    if case.event_types is not None:
        got = [type(event).__name__ for event in events]
        wanted = [kind.__name__ for kind in case.event_types]
        if got != wanted:
            problems.append(f"events {got}, expected {wanted}")
    if case.event_count is not None and len(events) != case.event_count:
        problems.append(f"{len(events)} events, expected {case.event_count}")
    if case.check is not None and (why := _holds(case.check, response, events)) is not None:
        problems.append(why)
    if problems:
        raise AssertionError(f"webhook case {case.name!r}: " + "; ".join(problems))


async def run_webhook_cases(
    adapter: Adapter, host: RecordingHost, cases: Sequence[WebhookCase]
) -> None:
    """Run every case in order against one adapter and host; reports all failures at once."""
    failures = []
    for case in cases:
        try:
            await check_webhook_case(adapter, host, case)
        except AssertionError as exc:
            failures.append(str(exc))
    _report(failures)


async def check_send_case(adapter: Adapter, case: SendCase) -> None:
    """Run one send case; raises AssertionError saying what differed."""
    try:
        result = await adapter.send(case.part)
    except SendError as error:
        if case.retryable is None:
            raise AssertionError(f"send case {case.name!r}: unexpected {error}") from error
        problems = []
        if error.retryable != case.retryable:
            problems.append(f"retryable={error.retryable}, expected {case.retryable}")
        if case.error_code is not None and error.code != case.error_code:
            problems.append(f"code {error.code!r}, expected {case.error_code!r}")
        if case.check is not None and (why := _holds(case.check, error)) is not None:
            problems.append(why)
        if problems:
            raise AssertionError(f"send case {case.name!r}: " + "; ".join(problems)) from error
        return
    if case.retryable is not None:
        raise AssertionError(
            f"send case {case.name!r}: sent ({result.provider_message_id!r}), expected a "
            f"SendError with retryable={case.retryable}"
        )
    if not result.provider_message_id:
        raise AssertionError(f"send case {case.name!r}: empty provider_message_id")
    if case.check is not None and (why := _holds(case.check, result)) is not None:
        raise AssertionError(f"send case {case.name!r}: {why}")


async def run_send_cases(adapter: Adapter, cases: Sequence[SendCase]) -> None:
    """Run every send case in order; reports all failures at once."""
    failures = []
    for case in cases:
        try:
            await check_send_case(adapter, case)
        except AssertionError as exc:
            failures.append(str(exc))
    _report(failures)


def _report(failures: Sequence[str]) -> None:
    if failures:
        raise AssertionError(f"{len(failures)} case(s) failed:\n" + "\n".join(failures))


async def _refused(
    what: str, handler: HttpHandler, request: WebhookRequest, host: RecordingHost
) -> None:
    before, stored = len(host.events), _stored_count(host)
    response = await handler(request)
    if not 400 <= response.status < 500:
        raise AssertionError(f"{what}: answered {response.status}, expected a 4xx")
    if len(host.events) != before or _stored_count(host) != stored:
        raise AssertionError(f"{what}: answered {response.status} but handed the host events")


async def check_rejects_unsigned(
    handler: HttpHandler, request_without_signature: WebhookRequest, host: RecordingHost
) -> None:
    """A request with a missing or bad signature gets a 4xx and stores nothing."""
    await _refused("unsigned request", handler, request_without_signature, host)


async def check_rejects_malformed(
    handler: HttpHandler, request: WebhookRequest, host: RecordingHost
) -> None:
    """A (correctly signed) request with a body the adapter cannot read gets a 4xx, no events."""
    await _refused("malformed request", handler, request, host)


async def check_duplicate_is_one_event(
    handler: HttpHandler, request: WebhookRequest, host: RecordingHost
) -> None:
    """The same delivery twice is answered 2xx both times and stores its messages once."""
    stored = _stored_count(host)
    first = await handler(request)
    after_first = _stored_count(host)
    second = await handler(request)
    if not (200 <= first.status < 300 and 200 <= second.status < 300):
        raise AssertionError(
            f"duplicate delivery: answered {first.status} then {second.status}, expected 2xx"
        )
    if after_first == stored:
        raise AssertionError("duplicate delivery: the first delivery stored no message")
    if _stored_count(host) != after_first:
        raise AssertionError("duplicate delivery: the second delivery stored another message")


def check_secrets_not_logged(
    secrets: Iterable[str], logs: str | Iterable[logging.LogRecord]
) -> None:
    """None of `secrets` appears in the captured logs (text, or records with tracebacks)."""
    if isinstance(logs, str):
        text = logs
    else:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        text = "\n".join(
            formatter.format(record) + " " + repr(getattr(record, "__dict__", {}))
            for record in logs
        )
    leaked = [index for index, secret in enumerate(secrets) if secret and secret in text]
    if leaked:
        # name the secrets by position only, so the failure report does not leak them again
        raise AssertionError(f"secret(s) number {leaked} (from 0) appear in the logs")
