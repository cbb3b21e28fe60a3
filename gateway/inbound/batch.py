"""Customers' messages and providers' statuses from many requests stored together.

Every provider request whose events are all plain customer messages is one item of a
group commit; the items of one commit are stored with a few statements for all of them
(duplicates, identities, conversations, numbered-reply menus, the messages, their events)
instead of a dozen per message. What the database says wins over what was read: a message
another node stored first, or an identity or conversation it created meanwhile, makes the
INSERT fail, and the writer then stores each item alone, which finds those rows.
Statuses of sent messages (a storm of them follows every campaign) are applied the same way.
Taps on buttons (postbacks and quick replies) are messages too. Any other request
(watermarks, opt-outs, echoes, web chat's button presses, failures, or kinds mixed) is
stored in runs of one kind by `inbound.runs`, which uses these for its runs of messages
and statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, col
from sqlmodel import select as select_rows

from channels import (
    Choice,
    DeliveryStatus,
    Direction,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    Participant,
    StatusUpdate,
)
from channels.choices import match_choice
from gateway.clock import aware, now
from gateway.domain.append import NewMessage, append_messages
from gateway.domain.buttons import message_with_button
from gateway.domain.delivery_status import apply_part_status
from gateway.domain.directory import Directory
from gateway.domain.many_participants import Resolved, resolve_participants
from gateway.domain.many_statuses import PartStatus, apply_part_statuses
from gateway.domain.messages import announcement
from gateway.domain.records import message_wire
from gateway.events import outbox
from gateway.inbound.ingest import MENU_LIFETIME, IngestReport
from gateway.store.bulk import SelectIn
from gateway.store.models import MessageRow
from gateway.store.tables import MENUS, MESSAGES
from gateway.store.writer import BatchHandler


@dataclass(frozen=True)
class InboundItem:
    """One provider request's messages, for one channel."""

    channel_id: str
    events: Sequence[InboundMessage]
    directory: Directory


E = TypeVar("E")  # an event as one kind reads it

#: (item, position of the event in the item)
Key = tuple[int, int]
Entry = tuple[Key, InboundMessage]
#: (interaction id, the business message with the button; None when not found, which then
#: names the tap's own message)
_Answer = tuple[str, str | None]


def plain_message(event: InboundEvent) -> InboundMessage | None:
    """The event as a customer's message (a tap on a button among them), or None."""
    if not isinstance(event, InboundMessage):
        return None
    if event.direction is not Direction.PARTICIPANT_TO_BUSINESS:
        return None  # an echo of what the business wrote in the provider's own inbox
    return event


def every(
    events: Sequence[InboundEvent], plain: Callable[[InboundEvent], E | None]
) -> list[E] | None:
    """Each event as `plain` reads it, or None when `plain` refuses any of them."""
    read: list[E] = []
    for event in events:
        one = plain(event)
        if one is None:
            return None
        read.append(one)
    return read


def batchable(events: Sequence[InboundEvent]) -> list[InboundMessage] | None:
    """The events as plain customer messages, or None when any is something else."""
    return every(events, plain_message)


def store_messages(session: Session, items: list[InboundItem]) -> list[IngestReport]:
    """Store the messages of every item; one report per item, outcomes in event order."""
    reports = [IngestReport() for _ in items]
    by_channel: dict[str, list[Entry]] = {}
    for index, item in enumerate(items):
        for position, event in enumerate(item.events):
            by_channel.setdefault(item.channel_id, []).append(((index, position), event))
    outcomes: dict[Key, IngestOutcome] = {}
    for channel_id, entries in by_channel.items():
        directory = items[entries[0][0][0]].directory
        _store_channel(session, channel_id, entries, directory, reports, outcomes)
    for index, item in enumerate(items):
        reports[index].outcomes.extend(outcomes[(index, p)] for p in range(len(item.events)))
    return reports


STORE_MESSAGES: BatchHandler[InboundItem, IngestReport] = BatchHandler(
    "inbound-messages", store_messages
)


def _store_channel(
    session: Session,
    channel_id: str,
    entries: list[Entry],
    directory: Directory,
    reports: list[IngestReport],
    outcomes: dict[Key, IngestOutcome],
) -> None:
    stored = _already_stored(
        session, channel_id, [e.provider_message_id for _, e in entries], directory
    )
    fresh: list[Entry] = []
    first_of: dict[str, Key] = {}
    for key, event in entries:
        if event.provider_message_id in stored:
            outcomes[key] = stored[event.provider_message_id]
        elif event.provider_message_id not in first_of:
            first_of[event.provider_message_id] = key
            fresh.append((key, event))
    if fresh:
        _store_fresh(session, channel_id, fresh, directory, reports, outcomes)
    # The same id twice among the new ones: the later ones are duplicates of the first.
    for key, event in entries:
        if key not in outcomes:
            first = outcomes[first_of[event.provider_message_id]]
            outcomes[key] = IngestOutcome(
                stored=False,
                duplicate=True,
                conversation_id=first.conversation_id,
                message=first.message,
            )


_STORED = SelectIn(MESSAGES, ["id"], "provider_message_id", equal=["source_channel_id"])
_MENUS = SelectIn(
    MENUS,
    ["conversation_id", "message_id", "choices", "created_at"],
    "conversation_id",
    equal=["channel_id"],
)


@dataclass(frozen=True)
class _Menu:
    message_id: str
    choices: list[dict[str, str]]


def _already_stored(
    session: Session, channel_id: str, provider_ids: list[str], directory: Directory
) -> dict[str, IngestOutcome]:
    """Outcomes for the ids stored before: duplicates, answered with the stored message."""
    found = _STORED.execute(session.connection(), provider_ids, channel_id)
    if not found:
        return {}
    rows = session.exec(
        select_rows(MessageRow).where(
            col(MessageRow.id).in_([message_id for (message_id,) in found])
        )
    )
    return {
        row.provider_message_id or "": IngestOutcome(
            stored=False,
            duplicate=True,
            conversation_id=row.conversation_id,
            message=message_wire(row, None, directory),
        )
        for row in rows
    }


def _store_fresh(
    session: Session,
    channel_id: str,
    fresh: list[Entry],
    directory: Directory,
    reports: list[IngestReport],
    outcomes: dict[Key, IngestOutcome],
) -> None:
    resolved = resolve_participants(session, channel_id, [e.participant for _, e in fresh])
    menus = _menus(session, channel_id, [resolved[e.participant.address] for _, e in fresh])
    messages: list[NewMessage] = []
    answers: list[_Answer | None] = []
    #: new participants already reported: their profile is looked up once, however many of
    #: their first messages this batch holds (each lookup is a provider request)
    reported: set[str] = set()
    connection = session.connection()
    for (index, _), event in fresh:
        who = resolved[event.participant.address]
        if event.interaction_id:  # a tap on a button (a postback, a quick reply)
            found = message_with_button(connection, who.conversation_id, event.interaction_id)
            answer: _Answer | None = (event.interaction_id, found)
        else:
            answer = _numbered_answer(menus.get(who.conversation_id), event)
        answers.append(answer)
        messages.append(
            NewMessage(
                conversation_id=who.conversation_id,
                content=event.content.with_preview().wire(),
                sender_kind=who.owner[0],
                sender_id=who.owner[1],
                direction=Direction.PARTICIPANT_TO_BUSINESS.value,
                created_at=aware(event.occurred_at),
                source_channel_id=channel_id,
                provider_message_id=event.provider_message_id,
                interaction_id=answer[0] if answer else None,
            )
        )
        address = event.participant.address
        if who.new and not event.participant.anonymous and address not in reported:
            reported.add(address)
            reports[index].new_participants.append(address)
    append_messages(session, messages)
    events: list[outbox.NewEvent] = []
    for (key, event), message, answer in zip(fresh, messages, answers, strict=True):
        wire = message_wire(message, None, directory)
        events.append(announcement(message, wire, message.interaction_id))
        if answer is not None:
            events.append(_button_interacted(message, answer, resolved, event, channel_id))
        reports[key[0]].stored_messages += 1
        outcomes[key] = IngestOutcome(
            stored=True, conversation_id=message.conversation_id, message=wire
        )
    outbox.emit_many(session, events)


def _menus(session: Session, channel_id: str, who: list[Resolved]) -> dict[str, _Menu]:
    """The live numbered menus of these conversations on the channel, by conversation."""
    fresh_after = now() - MENU_LIFETIME
    rows = _MENUS.execute(session.connection(), [w.conversation_id for w in who], channel_id)
    return {
        conversation_id: _Menu(message_id, choices)
        for conversation_id, message_id, choices, created_at in rows
        if aware(created_at) >= fresh_after
    }


def _numbered_answer(menu: _Menu | None, event: InboundMessage) -> _Answer | None:
    """(interaction id, menu message id) when the message answers the menu."""
    if menu is None:
        return None
    basic = event.content.basic
    if basic is None or len(basic.items) != 1 or basic.items[0].text is None:
        return None
    choices = [Choice(c["label"], c["interactionId"]) for c in menu.choices]
    chosen = match_choice(basic.items[0].text, choices)
    return None if chosen is None else (chosen.interaction_id, menu.message_id)


def _button_interacted(
    message: NewMessage,
    answer: _Answer,
    resolved: dict[str, Resolved],
    event: InboundMessage,
    channel_id: str,
) -> outbox.NewEvent:
    by = resolved[event.participant.address].owner
    with_button = answer[1] or message.id
    return outbox.NewEvent(
        "button_interacted",
        with_button,
        {
            "conversationId": message.conversation_id,
            "messageId": with_button,
            "interactionId": answer[0],
            "interactedBy": {by[0]: by[1]},
            "channelId": channel_id,
        },
        message.conversation_id,
    )


@dataclass(frozen=True)
class StatusItem:
    """One provider request's statuses of sent parts, for one channel."""

    channel_id: str
    updates: Sequence[StatusUpdate]
    directory: Directory


def plain_status(event: InboundEvent) -> StatusUpdate | None:
    """The event as a plain status of a sent part, or None.

    Failures (they write a note for the agents), opt-outs and watermarks take the long way.
    """
    if not isinstance(event, StatusUpdate) or event.provider_message_id is None:
        return None
    if event.status is DeliveryStatus.FAILED or event.opted_out or event.watermark:
        return None
    return event


def batchable_statuses(events: Sequence[InboundEvent]) -> list[StatusUpdate] | None:
    """The events as plain statuses of sent parts, or None when any is something else."""
    return every(events, plain_status)


def store_statuses(session: Session, items: list[StatusItem]) -> list[IngestReport]:
    """Apply the statuses of every item; one report per item."""
    by_channel: dict[str, list[PartStatus]] = {}
    for item in items:
        by_channel.setdefault(item.channel_id, []).extend(
            PartStatus(u.provider_message_id or "", u.status) for u in item.updates
        )
    for channel_id, updates in by_channel.items():
        left = apply_part_statuses(session, channel_id, updates)
        if left:
            # A message whose parts now add up to FAILED: failing it writes the agents' note.
            session.expire_all()
            directory = next(i.directory for i in items if i.channel_id == channel_id)
            for update in updates:
                if update.provider_message_id in left:
                    apply_part_status(
                        session,
                        channel_id,
                        update.provider_message_id,
                        update.status,
                        None,
                        None,
                        directory,
                    )
    return [
        IngestReport(outcomes=[IngestOutcome(stored=True) for _ in item.updates]) for item in items
    ]


STORE_STATUSES: BatchHandler[StatusItem, IngestReport] = BatchHandler(
    "inbound-statuses", store_statuses
)


@dataclass(frozen=True)
class ProfileItem:
    """A provider's profile of a participant (name, picture), learned after their message."""

    channel_id: str
    profile: Participant


def learn_profiles(session: Session, items: list[ProfileItem]) -> list[None]:
    """`conversation_for` with each profile: a provider's name replaces a placeholder name."""
    by_channel: dict[str, list[Participant]] = {}
    for item in items:
        by_channel.setdefault(item.channel_id, []).append(item.profile)
    for channel_id, profiles in by_channel.items():
        resolve_participants(session, channel_id, profiles)
    return [None for _ in items]


LEARN_PROFILES: BatchHandler[ProfileItem, None] = BatchHandler("inbound-profiles", learn_profiles)
