"""An example plug-in channel: JSON messages in, sent parts kept in memory.

It shows what a third-party adapter needs: a `Config` model for its `[channels.<id>]` table,
capabilities as data, routes that hand events to the host, and a `send()` that either returns
a `SendResult` or raises a classified `SendError`.
"""

from __future__ import annotations

import builtins
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    InboundMessage,
    MessageContent,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    TextPart,
    WebhookRequest,
    WebhookResponse,
)

log = logging.getLogger(__name__)

MAX_TEXT = 4096


class EchoConfig(ChannelConfig):
    """The `[channels.<id>]` table of an echo channel."""

    #: shown in the ids of sent parts, so two echo channels are told apart
    outbox_label: str
    #: when set, inbound requests must carry it in the `X-Echo-Token` header
    token: str = ""


class EchoAdapter:
    """A channel whose inbound route takes `{"id", "from", "text"}` and whose sends are kept."""

    type: ClassVar[str] = "echo"
    channel_type: ClassVar[ChannelType] = ChannelType.EMAIL
    Config: ClassVar[builtins.type[ChannelConfig]] = EchoConfig
    default_rate_per_second: ClassVar[float | None] = None
    #: every part sent by any echo channel, oldest first (tests read and clear it)
    sent: ClassVar[list[OutboundPart]] = []

    CAPABILITIES: ClassVar[Capabilities] = Capabilities(text_limit=50)

    def __init__(self, channel_id: str, config: ChannelConfig, host: ChannelHost) -> None:
        if not isinstance(config, EchoConfig):
            raise TypeError("the echo adapter needs an EchoConfig")
        self.channel_id = channel_id
        self.config = config
        self.host = host

    @property
    def capabilities(self) -> Capabilities:
        return self.CAPABILITIES

    def routes(self) -> Sequence[Route]:
        return [Route("POST", "inbound", self.inbound)]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def lookup_profile(self, address: str) -> Participant | None:
        return None

    async def inbound(self, request: WebhookRequest) -> WebhookResponse:
        """Store one message posted as JSON; 403 without the token, 400 for a bad body."""
        if self.config.token and not hmac.compare_digest(
            (request.header("x-echo-token") or "").encode(), self.config.token.encode()
        ):
            log.warning("echo channel %s: inbound request with a wrong token", self.channel_id)
            return WebhookResponse.error(403, "wrong or missing X-Echo-Token")
        message = _parse(request.body)
        if message is None:
            return WebhookResponse.error(400, 'expected JSON {"id", "from", "text"}')
        outcomes = await self.host.ingest([message])
        return WebhookResponse.json({"duplicate": outcomes[0].duplicate})

    async def send(self, part: OutboundPart) -> SendResult:
        """Keep a text part in `sent`; anything else is refused for good."""
        if not isinstance(part.part, TextPart) or part.part.media:
            raise SendError("the echo channel sends plain text only", code="UNSUPPORTED_PART")
        if not part.recipient:
            raise SendError("no recipient", code="NO_RECIPIENT")
        EchoAdapter.sent.append(part)
        return SendResult(provider_message_id=f"{self.config.outbox_label}-{len(self.sent)}")


def _parse(body: bytes) -> InboundMessage | None:
    """The message in an inbound body, or None when the body is not one."""
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
    return InboundMessage(
        provider_message_id=message_id,
        participant=Participant(address=sender),
        content=MessageContent.of_text(text),
        occurred_at=datetime.now(UTC),
    )
