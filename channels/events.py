"""Inbound events: what an adapter makes of a provider's webhook or a visitor's frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from channels.content import MessageContent
from channels.types import DeliveryStatus, Direction


@dataclass(frozen=True)
class Participant:
    """Who is at the other end of a channel, by their address on it.

    `address` is the channel's own id for the person (E.164 number, PSID, visitor id).
    `anonymous` marks a web visitor known by nothing else (the conversation's participant is
    then `{anonymousVisitorId: address}`); everyone else is a contact.
    """

    address: str
    display_name: str | None = None
    image_url: str | None = None
    anonymous: bool = False


@dataclass(frozen=True)
class VerifiedIdentity:
    """A person the business's own site vouches for (web chat `identity` with a signature)."""

    user_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message written by the participant (or, for echoes, by the business elsewhere).

    `provider_message_id` is the provider's id; the gateway stores one message per id and
    channel. `interaction_id` is set when the provider links the message to a button
    (Messenger postbacks and quick replies).
    """

    provider_message_id: str
    participant: Participant
    content: MessageContent
    occurred_at: datetime
    interaction_id: str | None = None
    direction: Direction = Direction.PARTICIPANT_TO_BUSINESS
    #: for echoes: the app that sent it, so the gateway can tell its own sends apart
    echo_app_id: str | None = None


@dataclass(frozen=True)
class ButtonPressed:
    """A button pressed without a message of its own (web chat `interact` frames)."""

    participant: Participant
    message_id: str
    interaction_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's news about something we sent.

    Either one message (`provider_message_id`) or, for watermarks, every message sent to
    `participant_address` on this channel and accepted at or before `watermark`.
    """

    status: DeliveryStatus
    provider_message_id: str | None = None
    participant_address: str | None = None
    watermark: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: the provider says the recipient refused messages (Twilio 21610)
    opted_out: bool = False


@dataclass(frozen=True)
class OptChange:
    """The participant opted out of (or back into) messages on this channel."""

    participant: Participant
    opted_out: bool
    keyword: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReadUpTo:
    """The participant read every business message up to `sequence` (web chat)."""

    participant: Participant
    sequence: int


InboundEvent = InboundMessage | ButtonPressed | StatusUpdate | OptChange | ReadUpTo
