"""The sendMessage rules (SPEC section 4): pick the channel, check it may be used, store.

Shared by the REST API and the agents' inbox page, so it knows nothing of HTTP. Everything
happens inside one `db.write(fn)`: a refused message raises `Refused` and stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session, func, select

from channels import DeliveryStatus, Direction, MessageContent, Visibility
from gateway.clock import aware
from gateway.domain.directory import Directory, sent_when_stored
from gateway.domain.errors import Refused, conversation_not_found
from gateway.domain.messages import announce, append_message
from gateway.domain.participants import identities_of, resolve_conversation
from gateway.events.wakeups import tell_sends_queued
from gateway.outbound.sent import Accepted, record_accepted
from gateway.store.models import (
    DeliveryRow,
    IdempotencyRow,
    MessageRow,
)

#: how long an `Idempotency-Key` holds
IDEMPOTENCY_TTL = timedelta(hours=24)
AGENT = "agentId"


@dataclass(frozen=True)
class SendRequest:
    """A validated sendMessage request (system content is refused before this point)."""

    conversation_id: str
    content: MessageContent
    direction: Direction = Direction.BUSINESS_TO_PARTICIPANT
    visibility: Visibility = Visibility.BUSINESS_AND_PARTICIPANT
    target_channels: list[str] = field(default_factory=list)
    target_channel_ids: list[str] = field(default_factory=list)
    badges: list[Any] = field(default_factory=list)

    @property
    def goes_out(self) -> bool:
        """Whether the message is meant for a channel (not an internal note or a record)."""
        return (
            self.visibility is Visibility.BUSINESS_AND_PARTICIPANT
            and self.direction is Direction.BUSINESS_TO_PARTICIPANT
        )


class ConversationFacts(Protocol):
    """What the rules read of a conversation: a `ConversationRow`, or the few columns that the
    batched sends read with a Core statement (loading whole ORM rows cost them a quarter of
    their time)."""

    @property
    def id(self) -> str: ...

    @property
    def participant_kind(self) -> str: ...

    @property
    def participant_id(self) -> str: ...

    @property
    def last_inbound_at(self) -> datetime | None: ...

    @property
    def last_inbound_channel_id(self) -> str | None: ...


class IdentityFacts(Protocol):
    """What the rules read of an identity: an `IdentityRow`, or its columns read with Core."""

    @property
    def channel_id(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def opted_out(self) -> bool: ...


@dataclass(frozen=True)
class Route:
    """Where an outgoing message goes and whether only the agent window allows it."""

    identity: IdentityFacts
    agent_window: bool


def send_message(
    session: Session,
    directory: Directory,
    request: SendRequest,
    *,
    sender: tuple[str, str],
    now: datetime,
    token_name: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[MessageRow, DeliveryRow | None]:
    """Store (and queue for delivery) one message, or raise `Refused` having stored nothing."""
    if token_name is not None and idempotency_key is not None:
        earlier = replay(session, token_name, idempotency_key, now)
        if earlier is not None:
            return earlier
    conversation = resolve_conversation(session, request.conversation_id)
    if conversation is None:
        raise conversation_not_found(request.conversation_id)
    identities = identities_of(session, conversation) if request.goes_out else []
    route = choose_route(session, directory, conversation, request, sender, now, identities)
    content = request.content.with_preview().wire()
    message = append_message(
        session,
        conversation,
        content=content,
        sender=sender,
        direction=request.direction,
        visibility=request.visibility,
        target_channel_id=route.identity.channel_id if route else None,
        badges=list(request.badges),
        created_at=now,
    )
    delivery = None
    if route is not None:
        delivery = DeliveryRow(
            message_id=message.id,
            conversation_id=message.conversation_id,
            channel_id=route.identity.channel_id,
            recipient=route.identity.address,
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            agent_window=route.agent_window,
            updated_at=now,
        )
        session.add(delivery)
    if token_name is not None and idempotency_key is not None:
        session.add(
            IdempotencyRow(
                token_name=token_name, key=idempotency_key, message_id=message.id, created_at=now
            )
        )
    session.flush()
    announce(session, message, delivery, directory)
    if delivery is not None and sent_when_stored(directory, delivery.channel_id):
        accepted = Accepted(
            message.id, delivery.channel_id, message.conversation_id, message.id, now
        )
        record_accepted(session, [accepted])
    elif delivery is not None:
        tell_sends_queued(session)  # (one recorded SENT as stored is nobody's to send)
    return message, delivery


def replay(
    session: Session, token_name: str, key: str, now: datetime
) -> tuple[MessageRow, DeliveryRow | None] | None:
    """The first message sent with this key, if the key is still fresh."""
    row = session.get(IdempotencyRow, (token_name, key))
    if row is None:
        return None
    message = session.get(MessageRow, row.message_id)
    if message is not None and now - aware(row.created_at) < IDEMPOTENCY_TTL:
        return message, session.get(DeliveryRow, message.id)
    # An expired key (or one whose message is gone) is free again.
    session.delete(row)
    session.flush()
    return None


def choose_route(
    session: Session,
    directory: Directory,
    conversation: ConversationFacts,
    request: SendRequest,
    sender: tuple[str, str],
    now: datetime,
    identities: Sequence[IdentityFacts],
) -> Route | None:
    """The identity to send to, per the SPEC's order; None for messages that stay inside.

    What no message may hold, whatever its kind, is refused first: text that is only
    whitespace, a channel id that is not configured. `identities` are the participant's,
    oldest first (read only when `request.goes_out`).
    """
    blank = request.content.blank_text()
    if blank is not None:
        # refused for notes and records too: a text of nothing is a mistake wherever it goes
        raise Refused(
            "INVALID_REQUEST", "text is only whitespace", 400, field=f"message.content.{blank}"
        )
    # A channel id that names no channel is a mistake in the request whatever the message is
    # (a note too): the client learns of it rather than having it ignored.
    wanted = request.target_channel_ids[0] if request.target_channel_ids else None
    if wanted is not None and wanted not in directory:
        raise Refused(
            "UNKNOWN_CHANNEL",
            f"no channel {wanted!r} is configured",
            400,
            field="message.targetChannelIds.0",
        )
    if not request.goes_out:
        return None
    identities = [i for i in identities if i.channel_id in directory]
    channel_id = _pick_channel(directory, conversation, request, identities)
    if channel_id is None:
        raise Refused(
            "NO_REACHABLE_CHANNEL",
            "the participant cannot be reached on any configured channel",
            409,
        )
    on_channel = [i for i in identities if i.channel_id == channel_id]
    reachable = [i for i in on_channel if not i.opted_out]
    if not reachable:
        raise Refused(
            "PARTICIPANT_OPTED_OUT",
            f"the participant opted out of messages on channel {channel_id!r}",
            409,
        )
    agent_window = _check_window(session, directory, conversation, channel_id, sender, now)
    return Route(identity=reachable[-1], agent_window=agent_window)


def _pick_channel(
    directory: Directory,
    conversation: ConversationFacts,
    request: SendRequest,
    identities: list[IdentityFacts],
) -> str | None:
    reachable = {i.channel_id for i in identities}
    if request.target_channel_ids:
        wanted = request.target_channel_ids[0]
        return wanted if wanted in reachable else None
    if request.target_channels:
        # A client naming a channel type wants that type, not whatever else reaches them.
        kind = request.target_channels[0]
        of_kind = [i for i in identities if directory[i.channel_id].channel_type == kind]
        if not of_kind:
            return None
        last = conversation.last_inbound_channel_id
        if last is not None and any(i.channel_id == last for i in of_kind):
            return last
        return of_kind[-1].channel_id
    last = conversation.last_inbound_channel_id
    if last is not None and last in reachable:
        return last
    return identities[-1].channel_id if identities else None


def _check_window(
    session: Session,
    directory: Directory,
    conversation: ConversationFacts,
    channel_id: str,
    sender: tuple[str, str],
    now: datetime,
) -> bool:
    """Raise when the channel's window is closed; True when only the agent window is open."""
    capabilities = directory[channel_id].capabilities
    window = capabilities.messaging_window
    if window is None:
        return False
    last = last_inbound_on(session, conversation, channel_id)
    if last is not None and now - last <= window:
        return False
    # Agents (people) may use the longer window where the channel offers one.
    allowed = capabilities.agent_window if sender[0] == AGENT else None
    if allowed is not None and last is not None and now - last <= allowed:
        return True
    raise Refused(
        "OUTSIDE_MESSAGING_WINDOW",
        f"channel {channel_id!r} allows business messages only within "
        f"{_hours(allowed or window)} of the participant's last message",
        409,
    )


def _hours(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def last_inbound_on(
    session: Session, conversation: ConversationFacts, channel_id: str
) -> datetime | None:
    """When the participant last wrote on this channel."""
    if conversation.last_inbound_channel_id == channel_id and conversation.last_inbound_at:
        return aware(conversation.last_inbound_at)
    # Their latest message came by another channel: look for the latest one on this one.
    latest = session.exec(
        select(func.max(MessageRow.created_at)).where(
            MessageRow.conversation_id == conversation.id,
            MessageRow.source_channel_id == channel_id,
            MessageRow.direction == Direction.PARTICIPANT_TO_BUSINESS.value,
        )
    ).one()
    return aware(latest) if latest is not None else None
