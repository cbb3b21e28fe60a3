"""The Twilio SMS/MMS channel: inbound and status webhooks, and sending via the REST API."""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError
from twilio.base.exceptions import TwilioException
from twilio.twiml.messaging_response import MessagingResponse

from adapters.twilio.client import begin_capture, build_client, close_client
from adapters.twilio.config import TwilioConfig
from adapters.twilio.errors import send_error
from adapters.twilio.inbound import inbound_events
from adapters.twilio.signature import signed_fields
from adapters.twilio.status import status_update
from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    DeliveryStatus,
    InboundEvent,
    MediaPart,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    TextPart,
    WebhookRequest,
    WebhookResponse,
    network_error,
)

#: Twilio allows 1600 characters per message and 10 media per MMS
TEXT_LIMIT = 1600
MEDIA_PER_MMS = 10
#: an inbound media URL: /2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…
MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"
    r"/Messages/(?:MM|SM)[0-9a-fA-F]{32}/Media/ME[0-9a-fA-F]{32}"
)
#: where Twilio's media URLs redirect to
MEDIA_HOSTS = frozenset({"mms.twiliocdn.com", "media.twiliocdn.com"})
S3_HOST = "s3-external-1.amazonaws.com"
S3_MEDIA_PREFIX = "/media.twiliocdn.com/"


class TwilioAdapter:
    """SMS and MMS through one Twilio number or Messaging Service."""

    type: ClassVar[str] = "twilio"
    channel_type: ClassVar[ChannelType] = ChannelType.SMS
    Config: ClassVar[builtins.type[ChannelConfig]] = TwilioConfig
    #: a long code sends about one message a second
    default_rate_per_second: ClassVar[float | None] = 1.0

    def __init__(self, channel_id: str, config: ChannelConfig, host: ChannelHost) -> None:
        if not isinstance(config, TwilioConfig):
            raise TypeError("TwilioAdapter needs a TwilioConfig")
        self.channel_id = channel_id
        self.config = config
        self.host = host
        #: seconds a create may take; Twilio's own client never gives up by itself
        self.send_timeout = 15.0
        self._client: Any = None

    @property
    def capabilities(self) -> Capabilities:
        """Text up to 1600 characters; media as MMS when `mms` is on; no buttons."""
        if not self.config.mms:
            return Capabilities(text_limit=TEXT_LIMIT, notes=("media are sent as links",))
        return Capabilities(
            text_limit=TEXT_LIMIT,
            media=frozenset({"image", "file", "video", "audio"}),
            media_per_part=MEDIA_PER_MMS,
            media_with_text=True,
            notes=("media are sent as MMS",),
        )

    def routes(self) -> Sequence[Route]:
        """Twilio's inbound-message and status-callback webhooks."""
        return (
            Route("POST", "inbound", self.handle_inbound, spooled_answer=_twiml()),
            Route("POST", "status", self.handle_status, spooled_answer=_twiml()),
        )

    async def start(self) -> None:
        """Build the REST client inside the running loop."""
        self._client = build_client(
            self.config.account_sid, self.config.auth_token, self.config.api_base_url
        )

    async def stop(self) -> None:
        """Close the REST client's connections."""
        client, self._client = self._client, None
        if client is not None:
            await close_client(client)

    # -- webhooks ---------------------------------------------------------------------------

    async def handle_inbound(self, request: WebhookRequest) -> WebhookResponse:
        """Store a message Twilio received for us; answer with empty TwiML."""
        fields, refusal = self._verified(request, ("From", "MessageSid"))
        if refusal is not None:
            return refusal
        try:
            events = inbound_events(fields)
        except ValidationError:
            return WebhookResponse.error(400, "the message cannot be read")
        await self.host.ingest(events)
        return _twiml()

    async def handle_status(self, request: WebhookRequest) -> WebhookResponse:
        """Record what became of a message we sent."""
        fields, refusal = self._verified(request, ("MessageSid", "MessageStatus"))
        if refusal is not None:
            return refusal
        update = status_update(fields)
        if update is not None:
            events: list[InboundEvent] = [update]
            await self.host.ingest(events)
        return _twiml()

    def _verified(
        self, request: WebhookRequest, required: Sequence[str]
    ) -> tuple[Mapping[str, str], WebhookResponse | None]:
        """The form fields of a request Twilio signed for our account, or the refusal."""
        pairs = signed_fields(request, self.config.auth_token)
        if pairs is None:
            return {}, WebhookResponse.error(403, "invalid or missing X-Twilio-Signature")
        fields = dict(pairs)  # the last value of a repeated name, as `request.form()` gives
        if fields.get("AccountSid", "").strip() != self.config.account_sid:
            return {}, WebhookResponse.error(403, "the request is for another Twilio account")
        missing = [name for name in required if not fields.get(name, "").strip()]
        if missing:
            return {}, WebhookResponse.error(400, f"missing {', '.join(missing)}")
        return fields, None

    # -- sending ----------------------------------------------------------------------------

    async def send(self, part: OutboundPart) -> SendResult:
        """Create one Twilio message for a text or media part."""
        if self._client is None:
            raise SendError(message="the Twilio channel is not started", retryable=True)
        body, media = self._body_and_media(part)
        sender: dict[str, str] = (
            {"messaging_service_sid": self.config.messaging_service_sid}
            if self.config.messaging_service_sid
            else {"from_": self.config.from_number or ""}
        )
        extra: dict[str, Any] = {}
        if body:
            extra["body"] = body
        if media:
            extra["media_url"] = media
        headers = begin_capture()
        try:
            # a timeout around the await, not `wait_for`, which wraps each send in a task
            async with asyncio.timeout(self.send_timeout):
                message = await self._client.messages.create_async(
                    to=part.recipient,
                    status_callback=self.status_callback_url,
                    **sender,
                    **extra,
                )
        except TwilioException as exc:
            raise send_error(exc, headers) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise network_error(exc) from exc
        return SendResult(provider_message_id=str(message.sid), status=DeliveryStatus.SENT)

    @property
    def status_callback_url(self) -> str:
        """Where Twilio reports what became of our messages."""
        return f"{self.host.public_url.rstrip('/')}/channels/{self.channel_id}/status"

    def _body_and_media(self, part: OutboundPart) -> tuple[str, list[str]]:
        content = part.part
        if isinstance(content, TextPart):
            urls = [m.url for m in content.media]
            # beyond what one MMS carries (or without MMS), media travel as links in the text
            attached = urls[:MEDIA_PER_MMS] if self.config.mms else []
            linked = urls[len(attached) :]
            return "\n".join([content.text, *linked]).strip(), attached
        if isinstance(content, MediaPart):
            if self.config.mms:
                return "", [content.media.url]
            return content.media.url, []
        raise SendError(
            message=f"a {content.kind} part cannot be sent by SMS",
            code="UNSUPPORTED_PART",
        )

    def media_credentials(self, url: str) -> tuple[str, str] | None:
        """HTTP Basic credentials for an inbound media URL of this account on our API host.

        Twilio may require the account's credentials for media; they are only ever handed
        out for the exact form of a media URL on the configured API host, so a URL planted
        in a message cannot collect them.
        """
        wanted = urlsplit(self.config.api_base_url)
        given = urlsplit(url)
        if (given.scheme, given.netloc.lower()) != (wanted.scheme, wanted.netloc.lower()):
            return None
        found = MEDIA_PATH.fullmatch(given.path)
        if found is None or given.query or given.fragment:
            return None
        if found["account"].lower() != self.config.account_sid.lower():
            return None
        return self.config.account_sid, self.config.auth_token

    def media_redirect_allowed(self, url: str) -> bool:
        """Twilio answers a media URL with a redirect to its media CDN (or to S3 for media
        stored before HTTP auth was enforced); a fake may redirect within the API host."""
        given = urlsplit(url)
        host = (given.hostname or "").lower()
        if given.scheme == "https" and host in MEDIA_HOSTS:
            return True
        if given.scheme == "https" and host == S3_HOST:
            return given.path.startswith(S3_MEDIA_PREFIX)
        wanted = urlsplit(self.config.api_base_url)
        return (given.scheme, given.netloc.lower()) == (wanted.scheme, wanted.netloc.lower())

    async def lookup_profile(self, address: str) -> Participant | None:
        """Twilio has no profiles: people are known by their number."""
        return None


#: the empty TwiML answer: nothing more to say (replies go through the REST API)
TWIML_EMPTY = str(MessagingResponse())


def _twiml() -> WebhookResponse:
    return WebhookResponse(body=TWIML_EMPTY, content_type="text/xml")
