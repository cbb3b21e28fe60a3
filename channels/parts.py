"""Outbound parts: what `render()` produces and what an adapter's `send()` takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from channels.capabilities import MediaKind
from channels.content import MessageContent
from channels.types import DeliveryStatus


@dataclass(frozen=True)
class Choice:
    """One postback button: the label a person sees and the id the business gets back."""

    label: str
    interaction_id: str


@dataclass(frozen=True)
class LinkButton:
    label: str
    url: str


@dataclass(frozen=True)
class Media:
    url: str
    kind: MediaKind
    filename: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True)
class TextPart:
    """Plain text, within the channel's text limit; `media` rides along where allowed (MMS)."""

    text: str
    media: tuple[Media, ...] = ()
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class MediaPart:
    """One native attachment on its own."""

    media: Media
    kind: Literal["media"] = "media"


@dataclass(frozen=True)
class CardPart:
    """A native card: title, subtitle, image and up to `card_buttons_max` buttons."""

    title: str
    subtitle: str | None = None
    image_url: str | None = None
    buttons: tuple[Choice | LinkButton, ...] = ()
    kind: Literal["card"] = "card"


@dataclass(frozen=True)
class QuickRepliesPart:
    """Text with native quick replies under it."""

    text: str
    choices: tuple[Choice, ...]
    kind: Literal["quick_replies"] = "quick_replies"


@dataclass(frozen=True)
class NativePart:
    """The canonical content itself, for channels that show it as is."""

    content: MessageContent
    kind: Literal["native"] = "native"


Part = TextPart | MediaPart | CardPart | QuickRepliesPart | NativePart


@dataclass(frozen=True)
class Rendered:
    """What one message becomes on one channel.

    `menu` lists the postback buttons that went out as numbers, in order: a reply of "1"
    means `menu[0]`. Empty when the channel links replies to buttons natively.
    """

    parts: tuple[Part, ...]
    menu: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class OutboundPart:
    """One part addressed to one recipient, as the gateway hands it to `Adapter.send`."""

    part: Part
    recipient: str
    message_id: str
    conversation_id: str
    #: index of this part within the message, from 0
    index: int = 0
    #: the send relies on the agent window (Messenger: HUMAN_AGENT tag)
    agent_window: bool = False
    #: the message answers a recent inbound message (Messenger: messaging_type RESPONSE)
    is_response: bool = True
    #: the full message as the API stored it, for channels that want more than the part
    wire_message: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """A part the provider accepted: its id there, and the status it reached."""

    provider_message_id: str
    status: DeliveryStatus = DeliveryStatus.SENT
