"""The built-in site chat: a widget on the business's pages, talking over a WebSocket."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from typing import ClassVar

from adapters.webchat.config import WebchatConfig
from adapters.webchat.connection import VisitorConnection
from adapters.webchat.flood import FloodGate
from adapters.webchat.limits import ChannelLimits, client_of, visitor_of
from adapters.webchat.origins import OriginPolicy
from adapters.webchat.protocol import (
    CLOSE_INVALID_TOKEN,
    CLOSE_ORIGIN_NOT_ALLOWED,
    CLOSE_TOO_MANY_SOCKETS,
    error_frame,
)
from adapters.webchat.receipts import Receipts
from adapters.webchat.sessions import SessionEndpoint
from adapters.webchat.tokens import TokenSigner
from adapters.webchat.widget import WidgetScript
from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    DeliveryStatus,
    NativePart,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    Socket,
    Subscription,
    WebhookRequest,
)

log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    native_content=True,
    media=frozenset({"image", "file", "video", "audio"}),
    media_per_part=20,
    media_with_text=True,
    cards=True,
    card_title_limit=4096,
    card_subtitle_limit=4096,
    card_buttons_max=10,
    quick_replies_max=10,
    quick_reply_title_limit=256,
    native_postbacks=True,
    notes=(
        "shows every content type as it is: cards, forms and notices included",
        "delivered when the visitor's page receives it; READ when they view it",
    ),
)


class WebchatAdapter:
    """Serves the widget, opens visitor sessions and runs their WebSockets.

    Sending needs no provider: the host publishes every stored message to the visitor's
    open sockets through `subscribe()`. `send()` therefore only confirms the message as
    SENT under its own id; the socket that shows it reports DELIVERED by the same id.
    """

    type: ClassVar[str] = "webchat"
    channel_type: ClassVar[ChannelType] = ChannelType.CHAT
    Config: ClassVar[builtins.type[ChannelConfig]] = WebchatConfig
    default_rate_per_second: ClassVar[float | None] = None

    def __init__(self, channel_id: str, config: ChannelConfig, host: ChannelHost) -> None:
        if not isinstance(config, WebchatConfig):
            config = WebchatConfig.model_validate(config.model_dump())
        self.channel_id = channel_id
        self.config = config
        self.host = host
        self._origins = OriginPolicy(config.allowed_origins)
        self._signer = TokenSigner(
            lambda: host.secret("webchat-token"),
            channel_id,
            identity_secret=config.identity_secret,
            lifetime=config.token_lifetime_days * 86400,
        )
        self._flood = FloodGate(config.flood_messages, config.flood_seconds)
        self._limits = ChannelLimits(channel_id, host.limits, config)
        self._sessions = SessionEndpoint(
            host, self._origins, self._signer, config.identity_secret, self._limits
        )
        self._widget = WidgetScript(config.title)
        self._connections: set[VisitorConnection] = set()
        self._receipts = Receipts(host)

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def routes(self) -> Sequence[Route]:
        return (
            Route("GET", "widget.js", self._widget.get),
            Route("OPTIONS", "sessions", self._sessions.preflight),
            Route("POST", "sessions", self._sessions.open),
            Route("WS", "ws", self.serve_socket),
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for connection in list(self._connections):
            await connection.close(1001, "the chat server is restarting")
        await self._receipts.stop()

    async def serve_socket(self, request: WebhookRequest, socket: Socket) -> None:
        """`WS ws?token=…`: one visitor's live conversation."""
        origin = request.header("origin")
        # Browsers always send Origin on WebSockets; other clients hold a token and may not.
        if origin is not None and not self._origins.allows(origin):
            await self._refuse(
                socket,
                CLOSE_ORIGIN_NOT_ALLOWED,
                "ORIGIN_NOT_ALLOWED",
                "this site is not allowed to open chat sessions",
            )
            return
        participant = self._signer.participant(request.query.get("token", ""))
        if participant is None:
            await self._refuse(
                socket,
                CLOSE_INVALID_TOKEN,
                "INVALID_TOKEN",
                "the token is missing, expired or not valid; open a new session",
            )
            return
        # Follow the conversation before the first wait: the visitor already sees the socket
        # open, and a reply stored while the limits below are counted (in the database, on
        # PostgreSQL) must reach it, not slip past a socket not yet listening.
        subscription = self.host.subscribe(participant)
        try:
            await self._serve(request, socket, participant, subscription)
        finally:
            subscription.close()

    async def _serve(
        self,
        request: WebhookRequest,
        socket: Socket,
        participant: Participant,
        subscription: Subscription,
    ) -> None:
        visitor, client = visitor_of(participant), client_of(request)
        if not await self._limits.open_socket(visitor, client):
            await self._refuse(
                socket,
                CLOSE_TOO_MANY_SOCKETS,
                "TOO_MANY_SOCKETS",
                "too many chat connections are open; close a tab or try again later",
            )
            return
        try:
            connection = VisitorConnection(
                self.host, participant, socket, self._flood, self._limits, client, self._receipts
            )
            self._connections.add(connection)
            try:
                await connection.run(subscription)
            finally:
                self._connections.discard(connection)
        finally:
            await self._limits.close_socket(visitor, client)

    async def _refuse(self, socket: Socket, close_code: int, code: str, text: str) -> None:
        try:
            await socket.send_json(error_frame(code, text))
            await socket.close(code=close_code, message=code)
        except Exception:  # the visitor left before hearing why
            log.debug("web chat: refusing a socket failed", exc_info=True)

    async def send(self, part: OutboundPart) -> SendResult:
        """Confirm a message for the visitor; the host's subscription carries it to them."""
        if not isinstance(part.part, NativePart):
            raise SendError(
                message=f"web chat shows content natively; got a {part.part.kind} part",
                code="UNSUPPORTED_PART",
            )
        self._receipts.sent(part.message_id)
        return SendResult(provider_message_id=part.message_id, status=DeliveryStatus.SENT)

    def stored_sent(self, message_ids: Sequence[str]) -> None:
        """The gateway recorded these replies SENT as it stored them: the visitors' receipts
        for them may be written (`SentWhenStored`; `send()` is for a paced channel)."""
        for message_id in message_ids:
            self._receipts.sent(message_id)

    async def lookup_profile(self, address: str) -> Participant | None:
        """Visitors have no provider profile; names come from verified identities."""
        return None
