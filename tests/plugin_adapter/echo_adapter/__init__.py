"""An example plug-in channel: JSON messages in, sent parts kept in memory (and, when an outbox
URL is set, posted there as a provider's API would take them).

It shows each part a third-party adapter needs: a `Config` model for its `[channels.<id>]`
table (secrets included: the gateway resolves `<key>_env` for any key), capabilities as data,
`start()`/`stop()` owning the adapter's own HTTP client, routes that verify a request and hand
its events to the host, opt-out keywords as `OptChange`, phone numbers named the way people
write them, `lookup_profile()`, and a `send()` that either returns a `SendResult` or raises a
classified `SendError`.
"""

from __future__ import annotations

import builtins
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp

from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    InboundEvent,
    InboundMessage,
    MessageContent,
    OptChange,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    TextPart,
    WebhookRequest,
    WebhookResponse,
    classify_http_status,
    format_phone,
    network_error,
)

log = logging.getLogger(__name__)

MAX_TEXT = 4096
#: a message that is only one of these words opts its sender out of (or back into) the channel
OPT_OUT, OPT_IN = "STOP", "START"


class EchoConfig(ChannelConfig):
    """The `[channels.<id>]` table of an echo channel."""

    #: shown in the ids of sent parts, so two echo channels are told apart
    outbox_label: str
    #: when set, inbound requests must carry it in the `X-Echo-Token` header
    #: (in the TOML, `token_env = "VAR"` reads it from the environment)
    token: str = ""
    #: when set, every sent part is also POSTed here as JSON `{"id", "to", "text"}`
    outbox_url: str = ""
    #: sent as `Authorization: Bearer <outbox_key>` with those POSTs
    outbox_key: str = ""


class EchoAdapter:
    """A channel whose inbound route takes `{"id", "from", "text"}` and whose sends are kept."""

    type: ClassVar[str] = "echo"
    channel_type: ClassVar[ChannelType] = ChannelType.EMAIL
    Config: ClassVar[builtins.type[ChannelConfig]] = EchoConfig
    default_rate_per_second: ClassVar[float | None] = None
    #: every part sent by any echo channel, oldest first (tests read and clear it)
    sent: ClassVar[list[OutboundPart]] = []

    CAPABILITIES: ClassVar[Capabilities] = Capabilities(
        text_limit=50, notes=("plain text, 50 characters a part",)
    )
    #: seconds an outbox POST may take before it counts as a network failure
    send_timeout: float = 10.0

    def __init__(self, channel_id: str, config: ChannelConfig, host: ChannelHost) -> None:
        if not isinstance(config, EchoConfig):
            raise TypeError("the echo adapter needs an EchoConfig")
        self.channel_id = channel_id
        self.config = config
        self.host = host
        self._http: aiohttp.ClientSession | None = None

    @property
    def capabilities(self) -> Capabilities:
        return self.CAPABILITIES

    def routes(self) -> Sequence[Route]:
        return [Route("POST", "inbound", self.inbound)]

    async def start(self) -> None:
        """Open the outbox's HTTP client: adapters bring their own, built in the running loop."""
        if self.config.outbox_url:
            timeout = aiohttp.ClientTimeout(total=self.send_timeout)
            self._http = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        """Close what `start()` opened; the gateway calls it once, on shutdown."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def lookup_profile(self, address: str) -> Participant | None:
        """The echo provider keeps no profiles; a real one would answer a name and picture."""
        return None

    async def inbound(self, request: WebhookRequest) -> WebhookResponse:
        """Store one message posted as JSON; 403 without the token, 400 for a bad body."""
        if self.config.token and not hmac.compare_digest(
            (request.header("x-echo-token") or "").encode(), self.config.token.encode()
        ):
            log.warning("echo channel %s: inbound request with a wrong token", self.channel_id)
            return WebhookResponse.error(403, "wrong or missing X-Echo-Token")
        events = _parse(request.body)
        if events is None:
            return WebhookResponse.error(400, 'expected JSON {"id", "from", "text"}')
        outcomes = await self.host.ingest(events)
        return WebhookResponse.json({"duplicate": outcomes[0].duplicate})

    async def send(self, part: OutboundPart) -> SendResult:
        """Keep a text part in `sent` (and post it to the outbox); anything else is refused."""
        if not isinstance(part.part, TextPart) or part.part.media:
            raise SendError("the echo channel sends plain text only", code="UNSUPPORTED_PART")
        if not part.recipient:
            raise SendError("no recipient", code="NO_RECIPIENT")
        provider_id = f"{self.config.outbox_label}-{len(self.sent) + 1}"
        if self.config.outbox_url:
            await self._post(provider_id, part.recipient, part.part.text)
        EchoAdapter.sent.append(part)
        return SendResult(provider_message_id=provider_id)

    async def _post(self, provider_id: str, recipient: str, text: str) -> None:
        if self._http is None:
            raise SendError("the echo channel is not started", code="NOT_STARTED", retryable=True)
        headers = {"Authorization": f"Bearer {self.config.outbox_key}"}
        body = {"id": provider_id, "to": recipient, "text": text}
        try:
            async with self._http.post(
                self.config.outbox_url, json=body, headers=headers
            ) as answer:
                if answer.status >= 300:
                    raise classify_http_status(
                        answer.status,
                        f"the outbox answered {answer.status}",
                        retry_after=answer.headers.get("Retry-After"),
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise network_error(exc) from exc


def _parse(body: bytes) -> list[InboundEvent] | None:
    """The events of an inbound body, or None when the body is not a message."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = [data.get(key) for key in ("id", "from", "text")]
    if not all(isinstance(value, str) and value.strip() for value in fields):
        return None
    message_id, sender, text = (str(value) for value in fields)
    if len(text) > MAX_TEXT:
        return None
    now = datetime.now(UTC)
    # a phone number is shown as people write it until the inbox learns a name
    name = format_phone(sender) if sender.startswith("+") else None
    participant = Participant(address=sender, display_name=name)
    events: list[InboundEvent] = [
        InboundMessage(
            provider_message_id=message_id,
            participant=participant,
            content=MessageContent.of_text(text),
            occurred_at=now,
        )
    ]
    # The adapter, not the gateway, recognises opt-out words: it knows its provider's rules.
    # The message itself is stored too; the gateway then refuses sends to the participant.
    word = text.strip().upper()
    if word in (OPT_OUT, OPT_IN):
        events.append(
            OptChange(participant, opted_out=word == OPT_OUT, keyword=word, occurred_at=now)
        )
    return events
