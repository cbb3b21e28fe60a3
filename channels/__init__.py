"""The channel contract: canonical types, capabilities, the adapter protocol and render()."""

from channels.adapter import (
    Adapter,
    ChannelConfig,
    ChannelHost,
    IngestOutcome,
    Route,
    Session,
    Socket,
    Subscription,
    WebhookRequest,
    WebhookResponse,
)
from channels.capabilities import Capabilities
from channels.choices import NUMBER_PROMPT, match_choice, numbered_line
from channels.content import MessageContent
from channels.errors import SendError, classify_http_status, network_error, parse_retry_after
from channels.events import (
    ButtonPressed,
    InboundEvent,
    InboundMessage,
    OptChange,
    Participant,
    ReadUpTo,
    StatusUpdate,
    VerifiedIdentity,
)
from channels.parts import (
    CardPart,
    Choice,
    LinkButton,
    Media,
    MediaPart,
    NativePart,
    OutboundPart,
    Part,
    QuickRepliesPart,
    Rendered,
    SendResult,
    TextPart,
)
from channels.render import render
from channels.split import split_text
from channels.types import ChannelType, DeliveryStatus, Direction, Visibility

__all__ = [
    "NUMBER_PROMPT",
    "Adapter",
    "ButtonPressed",
    "Capabilities",
    "CardPart",
    "ChannelConfig",
    "ChannelHost",
    "ChannelType",
    "Choice",
    "DeliveryStatus",
    "Direction",
    "InboundEvent",
    "InboundMessage",
    "IngestOutcome",
    "LinkButton",
    "Media",
    "MediaPart",
    "MessageContent",
    "NativePart",
    "OptChange",
    "OutboundPart",
    "Part",
    "Participant",
    "QuickRepliesPart",
    "ReadUpTo",
    "Rendered",
    "Route",
    "SendError",
    "SendResult",
    "Session",
    "Socket",
    "StatusUpdate",
    "Subscription",
    "TextPart",
    "VerifiedIdentity",
    "Visibility",
    "WebhookRequest",
    "WebhookResponse",
    "classify_http_status",
    "match_choice",
    "network_error",
    "numbered_line",
    "parse_retry_after",
    "render",
    "split_text",
]
