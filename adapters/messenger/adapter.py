"""The Messenger adapter: Meta's webhook in, the Send API out."""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from adapters.messenger.config import MessengerConfig
from adapters.messenger.errors import BAD_TOKEN
from adapters.messenger.graph import GraphClient
from adapters.messenger.inbound import parse_payload
from adapters.messenger.outbound import echo_metadata, message_body, messaging_type
from adapters.messenger.webhook import signature_ok, verify_subscription
from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    WebhookRequest,
    WebhookResponse,
)

log = logging.getLogger(__name__)

PROFILE_FIELDS = "first_name,last_name,profile_pic"


#: the answer to a webhook taken in (Meta wants a fast 200)
RECEIVED = WebhookResponse(status=200, body="EVENT_RECEIVED", content_type="text/plain")


class MessengerAdapter:
    """A Facebook Page's Messenger conversations, through one Meta app."""

    type: ClassVar[str] = "messenger"
    channel_type: ClassVar[ChannelType] = ChannelType.FACEBOOK
    Config: ClassVar[builtins.type[ChannelConfig]] = MessengerConfig
    default_rate_per_second: ClassVar[float | None] = 20.0

    #: seconds one Send API call may take, in the library and then as a whole
    request_timeout: float = 10.0
    send_timeout: float = 15.0
    profile_timeout: float = 15.0
    workers: int = 4

    def __init__(self, channel_id: str, config: ChannelConfig, host: ChannelHost) -> None:
        if not isinstance(config, MessengerConfig):
            config = MessengerConfig.model_validate(config.model_dump())
        self.channel_id = channel_id
        self.config = config
        self.host = host
        self._graph: GraphClient | None = None

    @property
    def capabilities(self) -> Capabilities:
        """Messenger's limits; the 7-day agent window only with `human_agent_tag`."""
        return Capabilities(
            text_limit=2000,
            media=frozenset({"image", "video", "audio", "file"}),
            media_per_part=1,
            media_with_text=False,
            cards=True,
            card_title_limit=80,
            card_subtitle_limit=80,
            card_buttons_max=3,
            card_button_title_limit=20,
            quick_replies_max=13,
            quick_reply_title_limit=20,
            native_postbacks=True,
            messaging_window=timedelta(hours=24),
            agent_window=timedelta(days=7) if self.config.human_agent_tag else None,
            notes=("generic template cards", "quick replies", "HUMAN_AGENT tag")
            if self.config.human_agent_tag
            else ("generic template cards", "quick replies"),
        )

    def routes(self) -> Sequence[Route]:
        """Meta's verification handshake and event webhook, both at `webhook`."""
        return [
            Route("GET", "webhook", self.verify),
            Route("POST", "webhook", self.receive, spooled_answer=RECEIVED),
        ]

    async def start(self) -> None:
        """Open the Graph client's worker pool."""
        self._graph = self._graph or GraphClient(
            access_token=self.config.page_access_token,
            app_secret=self.config.app_secret,
            base_url=self.config.graph_base_url,
            version=self.config.graph_version,
            request_timeout=self.request_timeout,
            workers=self.workers,
            name=f"messenger-{self.channel_id}",
        )
        self._graph.start()

    async def stop(self) -> None:
        """Close the worker pool and its HTTP sessions."""
        if self._graph is not None:
            self._graph.stop()
            self._graph = None

    async def verify(self, request: WebhookRequest) -> WebhookResponse:
        """Answer Meta's subscription handshake."""
        return verify_subscription(request, self.config.verify_token)

    async def receive(self, request: WebhookRequest) -> WebhookResponse:
        """Check, parse and ingest one webhook POST; every event of it in one ingest call."""
        if not signature_ok(request, self.config.app_secret):
            log.warning(
                "channel %s: refused a webhook with a bad or missing signature", self.channel_id
            )
            return WebhookResponse.error(403, "bad or missing X-Hub-Signature-256")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return WebhookResponse.error(400, "the body is not JSON")
        if not isinstance(payload, dict) or payload.get("object") != "page":
            return WebhookResponse.error(400, 'not a Messenger event (object != "page")')
        if not isinstance(payload.get("entry", []), list):
            return WebhookResponse.error(400, "entry is not a list")
        events = parse_payload(payload, page_id=self.config.page_id, app_id=self.config.app_id)
        if events:
            await self.host.ingest(events)
        # Meta retries anything but a fast 200, and unsubscribes apps that keep failing.
        return RECEIVED

    async def send(self, part: OutboundPart) -> SendResult:
        """Send one part through the Send API; raises a classified SendError."""
        kind, tag = messaging_type(part)
        message = {**message_body(part.part), "metadata": echo_metadata(part)}
        data = {
            "recipient": json.dumps({"id": part.recipient}),
            "messaging_type": kind,
            "message": json.dumps(message, ensure_ascii=False),
        }
        if tag is not None:
            data["tag"] = tag
        try:
            answer = await self._client().call(
                lambda api: api.post_object("me", "messages", data=data), self.send_timeout
            )
        except SendError as error:
            if error.config_problem and error.details.get("graph_code") == BAD_TOKEN:
                log.error(
                    "channel %s: configuration problem: the Graph API refused the Page access "
                    "token (code 190); set a valid page_access_token for this channel",
                    self.channel_id,
                )
            raise
        message_id = answer.get("message_id") if isinstance(answer, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise SendError(
                message="the Send API answered without a message_id", code="GRAPH_BAD_ANSWER"
            )
        return SendResult(provider_message_id=message_id)

    async def lookup_profile(self, address: str) -> Participant | None:
        """The person's name and picture from the Graph API, or None when that fails."""
        graph = self._graph
        if graph is None:
            return None
        try:
            profile: Any = await graph.call(
                lambda api: api.get_object(address, fields=PROFILE_FIELDS), self.profile_timeout
            )
        except Exception as exc:  # a profile is a nicety: never let it break the caller
            reason = str(exc) if isinstance(exc, SendError) else graph.redact(repr(exc))
            log.warning("channel %s: no profile for %s: %s", self.channel_id, address, reason)
            return None
        if not isinstance(profile, dict):
            return None
        names = [profile.get("first_name"), profile.get("last_name")]
        name = " ".join(n for n in names if isinstance(n, str) and n) or None
        picture = profile.get("profile_pic")
        return Participant(
            address=address,
            display_name=name,
            image_url=picture if isinstance(picture, str) and picture else None,
        )

    def _client(self) -> GraphClient:
        if self._graph is None:
            raise SendError(
                message=f"channel {self.channel_id} is not started",
                code="NOT_STARTED",
                retryable=True,
            )
        return self._graph
