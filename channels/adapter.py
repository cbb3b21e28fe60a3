"""The adapter protocol: how a transport plugs into the gateway, and what the gateway offers."""

from __future__ import annotations

import base64
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from channels.capabilities import Capabilities
from channels.events import InboundEvent, Participant, VerifiedIdentity
from channels.limits import Limits
from channels.parts import OutboundPart, SendResult
from channels.types import ChannelType


class ChannelConfig(BaseModel):
    """Base of every adapter's `[channels.<id>]` model; unknown keys and values of another
    type (`"2"` for a number, `"no"` for a boolean) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: str
    #: sends a second for the gateway as a whole; 0 turns pacing off (None: the adapter's own)
    rate_per_second: float | None = Field(default=None, ge=0, allow_inf_nan=False)


def basic_auth(login: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic authentication (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields in order, repeated names and blank values included,
    decoded as `urllib.parse.parse_qsl` decodes them, tolerant of bad encodings."""
    text = body.decode("utf-8", errors="replace")
    # yarl's query parser unquotes in C: a signed Twilio webhook's twenty fields cost 18 µs
    # with yarl 1.25, against 21 with `urllib.parse.parse_qsl` and 32 with yarl 1.18.
    return list(URL.build(query_string=text, encoded=True).query.items())


@dataclass(frozen=True)
class WebhookRequest:
    """A frozen HTTP request as it reached the gateway; headers are keyed in lower case."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    #: the URL the provider called, built from `public_url` (for signature checks)
    public_url: str
    #: the client's address (the peer, or what a trusted proxy says it saw)
    remote: str | None = None
    #: the key per-address limits count this client under: the address, or its IPv6 /64
    client_group: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form_pairs(self) -> list[tuple[str, str]]:
        """The body's form fields in order, repeated names and blank values included."""
        return form_pairs(self.body)

    def form(self) -> dict[str, str]:
        """The body as form fields (last value wins), tolerant of bad encodings."""
        return dict(self.form_pairs())


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: str | bytes = b""
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> WebhookResponse:
        import json

        return cls(status=status, body=json.dumps(data), content_type="application/json")

    @classmethod
    def error(cls, status: int, message: str) -> WebhookResponse:
        return cls.json({"message": message}, status=status)


class Socket(Protocol):
    """A WebSocket as the gateway hands it to an adapter: JSON text frames only."""

    async def send_json(self, data: Mapping[str, Any]) -> None: ...

    def receive(self) -> AsyncIterator[str]: ...

    async def close(self, code: int = 1000, message: str = "") -> None: ...


HttpHandler = Callable[[WebhookRequest], Awaitable[WebhookResponse]]
SocketHandler = Callable[[WebhookRequest, Socket], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """One route under `/channels/<id>/`; `path` is relative, e.g. `"inbound"`.

    `spooled_answer`: for a provider's webhook whose answer only says "received" and whose
    handler stores each event once however often it is handed in. When the database cannot
    be reached, the gateway keeps such a request on local disk, answers this, and hands the
    request to the handler again once the database is back. None: it is answered 503.
    """

    method: Literal["GET", "POST", "OPTIONS", "WS"]
    path: str
    handler: HttpHandler | SocketHandler
    spooled_answer: WebhookResponse | None = None


@dataclass(frozen=True)
class IngestOutcome:
    """What the gateway made of one inbound event, after it was committed."""

    stored: bool
    duplicate: bool = False
    conversation_id: str | None = None
    message: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Session:
    """A participant's conversation as seen from a channel (web chat sessions)."""

    conversation_id: str
    participant_kind: Literal["contactId", "anonymousVisitorId", "memberId"]
    participant_id: str


class AddressRetired(Exception):
    """The participant's address no longer opens the conversation a subscription followed.

    Raised by a subscription of an anonymous visitor whom the site has since identified:
    their conversation went into the identified person's, which that anonymous address must
    never read. The address opens a new, empty conversation from then on.
    """


class Subscription(Protocol):
    """Messages of one conversation visible to its participant, as they are stored.

    Iterating raises `AddressRetired` when the participant's address stops opening the
    conversation; it ends when the subscription is closed.
    """

    def __aiter__(self) -> AsyncIterator[Mapping[str, Any]]: ...

    def close(self) -> None: ...


class ChannelHost(Protocol):
    """What the gateway offers an adapter. Adapters never touch the store directly."""

    channel_id: str
    public_url: str
    #: the gateway's limits service: count uses (`take`) and places held (`acquire`/`release`)
    #: per key before doing the work; shared by every door, and across nodes when the
    #: gateway's implementation is shared
    limits: Limits

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        """Store the events in one commit; answers only once they are on disk."""
        ...

    async def open_session(
        self,
        participant: Participant,
        *,
        verified: VerifiedIdentity | None = None,
        previous: Participant | None = None,
        carry_id: Callable[[str], str] | None = None,
    ) -> Session:
        """The conversation for a participant, created if new.

        With `verified`, the participant is the contact holding identity `(channel, user_id)`
        (created if new, or found by a matching phone number); the conversation of `previous`
        (the same visitor before they were identified) merges into it. `carry_id` gives each
        message `previous` sent on this channel the provider id it has as the participant's,
        so that their resend of it is recognised and one from `previous`'s address is not
        (an id another message holds already, or one too long, leaves the message none).
        """
        ...

    async def history(self, participant: Participant, after_sequence: int) -> list[dict[str, Any]]:
        """Messages visible to the participant, after a sequence number, oldest first."""
        ...

    def subscribe(self, participant: Participant) -> Subscription:
        """Messages of the participant's conversation as they are stored from now on."""
        ...

    def secret(self, name: str) -> bytes:
        """A per-installation secret that survives restarts (for signing visitor tokens)."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """A transport. It translates; it never stores, schedules or retries."""

    type: ClassVar[str]
    channel_type: ClassVar[ChannelType]
    Config: ClassVar[builtins.type[ChannelConfig]]
    default_rate_per_second: ClassVar[float | None]

    @property
    def capabilities(self) -> Capabilities: ...

    def routes(self) -> Sequence[Route]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, part: OutboundPart) -> SendResult:
        """Send one part; raises `SendError` classified as retryable or permanent."""
        ...

    async def lookup_profile(self, address: str) -> Participant | None:
        """The participant's name and picture from the provider, when it offers them."""
        ...


@runtime_checkable
class SentWhenStored(Protocol):
    """An adapter whose recipients get a message from the host's subscription the moment it
    is stored (the web chat's visitors): sending it hands nothing to a provider.

    Unless the channel is paced, the gateway records a send to it SENT in the commit that
    stores the message (the message's id stands for the provider's), as `send()` would have
    had it recorded, without calling `send()`; then it calls `stored_sent`.
    """

    def stored_sent(self, message_ids: Sequence[str]) -> None:
        """These messages' sends were recorded SENT as they were stored (the commit landed)."""
        ...


@runtime_checkable
class MediaSource(Protocol):
    """An adapter whose inbound media URLs need credentials to fetch (Twilio MMS).

    The gateway fetches media for the inbox page through the adapter's answers, so that no
    vendor detail lives in the daemon. It fetches only URLs found in a stored inbound message
    of the channel, sends the credentials to that first URL only, and follows a redirect only
    where `media_redirect_allowed` says, without credentials and never to a private address
    other than the first URL's host.
    """

    def media_credentials(self, url: str) -> tuple[str, str] | None:
        """HTTP Basic credentials for `url` when it has the exact form of the provider's media
        URLs on its configured API host, else None."""
        ...

    def media_redirect_allowed(self, url: str) -> bool:
        """Whether a media URL may redirect to `url`: the provider's own media hosts."""
        ...


AdapterFactory = Callable[[str, ChannelConfig, ChannelHost], Adapter]
