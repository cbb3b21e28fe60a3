"""Inbound events into the store: the gateway's side of `ChannelHost.ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, select

from channels import (
    ButtonPressed,
    Choice,
    Direction,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    OptChange,
    ReadUpTo,
    StatusUpdate,
)
from channels.choices import match_choice
from gateway.clock import aware, now
from gateway.domain.buttons import interaction_ids, message_with_button
from gateway.domain.delivery_status import (
    apply_part_status,
    apply_watermark,
    read_up_to,
    remember_early_status,
)
from gateway.domain.directory import Directory
from gateway.domain.messages import announce, append_message
from gateway.domain.opt_out import set_opt_out
from gateway.domain.participants import conversation_for, find_identity, owner_of
from gateway.domain.records import message_wire
from gateway.events import outbox
from gateway.store.models import (
    ConversationRow,
    DeliveryPartRow,
    MenuRow,
    MessageRow,
)

#: numbered choices answer their menu for this long (SPEC section 8)
MENU_LIFETIME = timedelta(hours=24)


@dataclass
class IngestReport:
    """What one ingest call did, for the caller's follow-up work after the commit."""

    outcomes: list[IngestOutcome] = field(default_factory=list)
    #: addresses seen for the first time, whose profile may be looked up
    new_participants: list[str] = field(default_factory=list)
    stored_messages: int = 0


def ingest_events(
    session: Session,
    channel_id: str,
    events: Sequence[InboundEvent],
    directory: Directory,
    repeated: set[str] | None = None,
) -> IngestReport:
    """Apply every event of one provider request inside one transaction.

    `repeated` holds the addresses whose message in this request was a duplicate, and is
    added to: a provider's retry of a STOP (or START) that was stored already must not apply
    its keyword again, since by then the customer may have said the opposite.
    """
    report = IngestReport()
    repeated = set() if repeated is None else repeated
    for event in events:
        if isinstance(event, InboundMessage):
            outcome = _message(session, channel_id, event, directory, report)
            if outcome.duplicate:
                repeated.add(event.participant.address)
        elif isinstance(event, StatusUpdate):
            outcome = _status(session, channel_id, event, directory)
        elif isinstance(event, OptChange) and event.participant.address in repeated:
            outcome = IngestOutcome(stored=False, duplicate=True)
        elif isinstance(event, OptChange):
            outcome = _opt_change(session, channel_id, event, directory)
        elif isinstance(event, ButtonPressed):
            outcome = _button(session, channel_id, event)
        elif isinstance(event, ReadUpTo):
            outcome = _read(session, channel_id, event)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown event {event!r}")
        report.outcomes.append(outcome)
    return report


def _existing(session: Session, channel_id: str, provider_id: str) -> MessageRow | None:
    return session.exec(
        select(MessageRow).where(
            MessageRow.source_channel_id == channel_id,
            MessageRow.provider_message_id == provider_id,
        )
    ).first()


def _message(
    session: Session,
    channel_id: str,
    event: InboundMessage,
    directory: Directory,
    report: IngestReport,
) -> IngestOutcome:
    existing = _existing(session, channel_id, event.provider_message_id)
    if existing is not None:
        return IngestOutcome(
            stored=False,
            duplicate=True,
            conversation_id=existing.conversation_id,
            message=message_wire(existing, None, directory),
        )
    if event.direction is Direction.BUSINESS_TO_PARTICIPANT and _sent_by_us(
        session, channel_id, event.provider_message_id
    ):
        return IngestOutcome(stored=False, duplicate=True)
    first_contact = find_identity(session, channel_id, event.participant.address) is None
    conversation, identity, _ = conversation_for(session, channel_id, event.participant)
    if first_contact and not event.participant.anonymous:
        report.new_participants.append(event.participant.address)
    content = event.content.with_preview().wire()
    interaction_id, button_message_id = _interaction(session, conversation, channel_id, event)
    if event.direction is Direction.PARTICIPANT_TO_BUSINESS:
        sender = owner_of(identity)
    else:  # written by the business in the provider's own inbox (Messenger page inbox)
        sender = ("appId", f"{channel_id}-inbox")
    message = append_message(
        session,
        conversation,
        content=content,
        sender=sender,
        direction=event.direction,
        source_channel_id=channel_id,
        target_channel_id=channel_id
        if event.direction is Direction.BUSINESS_TO_PARTICIPANT
        else None,
        provider_message_id=event.provider_message_id,
        interaction_id=interaction_id,
        created_at=aware(event.occurred_at),
    )
    announce(session, message, None, directory, interaction_id=interaction_id)
    if interaction_id is not None:
        _button_interacted(
            session,
            message.conversation_id,
            channel_id,
            message_id=button_message_id or message.id,
            interaction_id=interaction_id,
            by=owner_of(identity),
        )
    report.stored_messages += 1
    return IngestOutcome(
        stored=True,
        conversation_id=message.conversation_id,  # the conversation's own, or one merged into
        message=message_wire(message, None, directory),
    )


def _sent_by_us(session: Session, channel_id: str, provider_id: str) -> bool:
    return (
        session.exec(
            select(DeliveryPartRow.id).where(
                DeliveryPartRow.channel_id == channel_id,
                DeliveryPartRow.provider_message_id == provider_id,
            )
        ).first()
        is not None
    )


def _interaction(
    session: Session, conversation: ConversationRow, channel_id: str, event: InboundMessage
) -> tuple[str | None, str | None]:
    """The button an inbound message answers: native, or a numbered reply to a menu."""
    if event.direction is not Direction.PARTICIPANT_TO_BUSINESS:
        return None, None
    if event.interaction_id:
        return event.interaction_id, message_with_button(
            session.connection(), conversation.id, event.interaction_id
        )
    text = _only_text(event)
    if text is None:
        return None, None
    menu = session.get(MenuRow, (conversation.id, channel_id))
    if menu is None or now() - aware(menu.created_at) > MENU_LIFETIME:
        return None, None
    choices = [Choice(c["label"], c["interactionId"]) for c in menu.choices]
    chosen = match_choice(text, choices)
    if chosen is None:
        return None, None
    return chosen.interaction_id, menu.message_id


def _only_text(event: InboundMessage) -> str | None:
    basic = event.content.basic
    if basic is None or len(basic.items) != 1:
        return None
    return basic.items[0].text


def _button_interacted(
    session: Session,
    conversation_id: str,
    channel_id: str,
    *,
    message_id: str,
    interaction_id: str,
    by: tuple[str, str],
) -> None:
    outbox.emit(
        session,
        "button_interacted",
        message_id,
        {
            "conversationId": conversation_id,
            "messageId": message_id,
            "interactionId": interaction_id,
            "interactedBy": {by[0]: by[1]},
            "channelId": channel_id,
        },
        conversation_id=conversation_id,
    )


def _status(
    session: Session, channel_id: str, event: StatusUpdate, directory: Directory
) -> IngestOutcome:
    if event.opted_out and event.participant_address:
        set_opt_out(session, channel_id, event.participant_address, True, "provider", directory)
    if event.provider_message_id is not None:
        delivery = apply_part_status(
            session,
            channel_id,
            event.provider_message_id,
            event.status,
            event.error_code,
            event.error_message,
            directory,
        )
        if delivery is None:
            # No callback ordering is promised: this one beat the send's answer.
            remember_early_status(
                session,
                channel_id,
                event.provider_message_id,
                event.status,
                event.error_code,
                event.error_message,
                event.opted_out,
            )
            return IngestOutcome(stored=True)
        if event.opted_out:
            set_opt_out(session, channel_id, delivery.recipient, True, "provider", directory)
        return IngestOutcome(stored=True)
    if event.participant_address and event.watermark is not None:
        moved = apply_watermark(
            session, channel_id, event.participant_address, event.watermark, event.status
        )
        return IngestOutcome(stored=moved > 0)
    return IngestOutcome(stored=False)


def _opt_change(
    session: Session, channel_id: str, event: OptChange, directory: Directory
) -> IngestOutcome:
    conversation, _, _ = conversation_for(session, channel_id, event.participant)
    set_opt_out(
        session, channel_id, event.participant.address, event.opted_out, event.keyword, directory
    )
    return IngestOutcome(stored=True, conversation_id=conversation.id)


def _button(session: Session, channel_id: str, event: ButtonPressed) -> IngestOutcome:
    conversation, identity, _ = conversation_for(session, channel_id, event.participant)
    message = session.get(MessageRow, event.message_id)
    # only the business offers buttons: a card the participant wrote themselves (web chat
    # visitors may send one) must not raise a press a CRM would act on
    if (
        message is None
        or message.conversation_id != conversation.id
        or message.direction != Direction.BUSINESS_TO_PARTICIPANT
    ):
        return IngestOutcome(stored=False, conversation_id=conversation.id)
    if event.interaction_id not in interaction_ids(message.content):
        return IngestOutcome(stored=False, conversation_id=conversation.id)
    _button_interacted(
        session,
        conversation.id,
        channel_id,
        message_id=message.id,
        interaction_id=event.interaction_id,
        by=owner_of(identity),
    )
    return IngestOutcome(stored=True, conversation_id=conversation.id)


def _read(session: Session, channel_id: str, event: ReadUpTo) -> IngestOutcome:
    conversation, _, _ = conversation_for(session, channel_id, event.participant)
    moved = read_up_to(session, conversation.id, channel_id, event.sequence)
    return IngestOutcome(stored=moved > 0, conversation_id=conversation.id)
