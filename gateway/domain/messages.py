"""Appending messages to conversations, announcing them, and merging conversations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from channels import LONGEST, Direction, Visibility
from gateway.clock import aware, new_id, now
from gateway.domain.append import MAX_MERGE_HOPS, ConversationGone
from gateway.domain.directory import Directory
from gateway.domain.merge_locks import lock_conversations_to_merge
from gateway.domain.participants import resolve_conversation
from gateway.domain.records import MessageFields, message_wire
from gateway.events import outbox
from gateway.store.models import (
    ConversationRow,
    DeliveryRow,
    MenuRow,
    MessageRow,
)

GATEWAY_SENDER = ("appId", "inbox-gateway")


def next_sequence(session: Session, conversation_id: str) -> int | None:
    """Take the conversation's next sequence number; safe across writers and nodes. None when
    the conversation was merged away (its messages now go to the one it went into)."""
    result = session.execute(
        update(ConversationRow)
        .where(
            col(ConversationRow.id) == conversation_id, col(ConversationRow.merged_into).is_(None)
        )
        .values(last_sequence=ConversationRow.last_sequence + 1)
        .returning(col(ConversationRow.last_sequence))
    )
    taken = result.scalar_one_or_none()
    return None if taken is None else int(taken)


def _number_in_live(session: Session, conversation: ConversationRow) -> tuple[ConversationRow, int]:
    """The conversation a message goes to and its sequence number there: `conversation`, or,
    when another node merged it away since it was read, the one it went into (a message
    numbered in a merged-away conversation would never be listed)."""
    for _ in range(MAX_MERGE_HOPS):
        sequence = next_sequence(session, conversation.id)
        if sequence is not None:
            return conversation, sequence
        live = resolve_conversation(session, conversation.id, fresh=True)
        if live is None:
            break
        conversation = live
    raise ConversationGone(f"no live conversation takes the messages of {conversation.id}")


def append_message(
    session: Session,
    conversation: ConversationRow,
    *,
    content: dict[str, Any],
    sender: tuple[str, str],
    direction: Direction,
    visibility: Visibility = Visibility.BUSINESS_AND_PARTICIPANT,
    source_channel_id: str | None = None,
    target_channel_id: str | None = None,
    provider_message_id: str | None = None,
    badges: list[Any] | None = None,
    interaction_id: str | None = None,
    created_at: datetime | None = None,
) -> MessageRow:
    """Store a message at the end of the conversation (its event is announced separately);
    the message's `conversation_id` says where it went, should the conversation have been
    merged away meanwhile."""
    stamp = created_at or now()
    conversation, sequence = _number_in_live(session, conversation)
    row = MessageRow(
        id=new_id(),
        conversation_id=conversation.id,
        sequence=sequence,
        content=content,
        sender_kind=sender[0],
        sender_id=sender[1],
        direction=direction.value,
        visibility=visibility.value,
        created_at=stamp,
        source_channel_id=source_channel_id,
        target_channel_id=target_channel_id,
        provider_message_id=provider_message_id,
        badges=badges or [],
        interaction_id=interaction_id,
    )
    session.add(row)
    session.refresh(conversation, ["last_sequence", "last_inbound_at", "last_inbound_channel_id"])
    conversation.last_activity_at = max(aware(conversation.last_activity_at), aware(stamp))
    # a message that arrives late with an older time moves neither the window nor the route
    if (
        direction is Direction.PARTICIPANT_TO_BUSINESS
        and source_channel_id is not None
        and (
            conversation.last_inbound_at is None
            or aware(stamp) >= aware(conversation.last_inbound_at)
        )
    ):
        conversation.last_inbound_at = stamp
        conversation.last_inbound_channel_id = source_channel_id
    session.flush()
    return row


def announce(
    session: Session,
    message: MessageRow,
    delivery: DeliveryRow | None,
    directory: Directory,
    interaction_id: str | None = None,
) -> None:
    """Append the message's `message_sent_to_*` event to the outbox."""
    event = announcement(message, message_wire(message, delivery, directory), interaction_id)
    outbox.emit(
        session, event.slug, event.entity_id, event.body, conversation_id=event.conversation_id
    )


def announcement(
    message: MessageFields, wire: dict[str, Any], interaction_id: str | None = None
) -> outbox.NewEvent:
    """The `message_sent_to_*` event of a message whose public form is `wire`."""
    body: dict[str, Any] = {"conversationId": message.conversation_id, "message": wire}
    if message.direction == Direction.PARTICIPANT_TO_BUSINESS.value:
        if interaction_id:
            body["interactionInfo"] = {"interactionId": interaction_id}
        slug = "message_sent_to_business"
    else:
        slug = "message_sent_to_participant"
    return outbox.NewEvent(slug, message.id, body, message.conversation_id)


def system_note(
    session: Session, conversation: ConversationRow, text: str, directory: Directory
) -> MessageRow:
    """An internal note (visibility BUSINESS) written by the gateway itself."""
    note = append_message(
        session,
        conversation,
        content={"system": {"text": text[:4096]}, "previewText": text[:200]},
        sender=GATEWAY_SENDER,
        direction=Direction.BUSINESS_TO_PARTICIPANT,
        visibility=Visibility.BUSINESS,
    )
    announce(session, note, None, directory)
    return note


def merge_conversations(
    session: Session, target: ConversationRow, olds: list[ConversationRow]
) -> ConversationRow | None:
    """Move every message of `olds` into `target`, in time order; old ids answer as target.

    Returns the conversation they went into: `target`, or the one another node merged it into
    meanwhile (None when there is none)."""
    # Locked before their messages are read: a message another node appends meanwhile waits
    # and then lands in the target, numbered after what moved (see `merge_locks`).
    live_target, olds = lock_conversations_to_merge(session, target.id, [c.id for c in olds])
    if live_target is None or not olds:
        return live_target
    target = live_target
    ids = [target.id, *(c.id for c in olds)]
    messages = list(
        session.exec(select(MessageRow).where(col(MessageRow.conversation_id).in_(ids)))
    )
    order = {cid: i for i, cid in enumerate(ids)}
    messages.sort(key=lambda m: (aware(m.created_at), order[m.conversation_id], m.sequence))
    # Two passes keep the (conversation, sequence) key unique at every flush.
    for index, message in enumerate(messages):
        message.sequence = -(index + 1)
    session.flush()
    for index, message in enumerate(messages):
        message.sequence = index + 1
        message.conversation_id = target.id
    session.flush()
    session.execute(
        update(DeliveryRow)
        .where(col(DeliveryRow.conversation_id).in_(ids[1:]))
        .values(conversation_id=target.id)
    )
    _merge_menus(session, target.id, ids)
    target.last_sequence = len(messages)
    # Conversations merged into an old one before now answer as the target in one hop, so
    # that a chain of merges never grows longer than following it can go.
    session.execute(
        update(ConversationRow)
        .where(col(ConversationRow.merged_into).in_(ids[1:]))
        .values(merged_into=target.id)
    )
    for old in olds:
        old.merged_into = target.id
        target.last_activity_at = max(aware(target.last_activity_at), aware(old.last_activity_at))
        if old.last_inbound_at and (
            target.last_inbound_at is None
            or aware(old.last_inbound_at) > aware(target.last_inbound_at)
        ):
            target.last_inbound_at = old.last_inbound_at
            target.last_inbound_channel_id = old.last_inbound_channel_id
    session.flush()
    outbox.emit(
        session,
        "conversations_merged",
        target.id,
        {"oldConversationIds": [c.id for c in olds], "targetConversationId": target.id},
        conversation_id=target.id,
        entity_fqdn=outbox.CONVERSATION,
    )
    return target


def carry_provider_ids(
    session: Session, channel_id: str, conversation_id: str, carry_id: Callable[[str], str]
) -> None:
    """Give the participant's messages on a channel in a conversation the provider ids
    `carry_id` makes of theirs: a visitor's, as the person the site identified them as.

    An id another message holds already (or one longer than the column) leaves the message
    with none: no resend finds it then, which is better than one finding a stranger's.
    """
    rows = list(
        session.exec(
            select(MessageRow).where(
                MessageRow.conversation_id == conversation_id,
                MessageRow.source_channel_id == channel_id,
                MessageRow.direction == Direction.PARTICIPANT_TO_BUSINESS.value,
                col(MessageRow.provider_message_id).is_not(None),
            )
        )
    )
    if not rows:
        return
    carried = {row.id: carry_id(row.provider_message_id or "") for row in rows}
    holders = dict(
        session.exec(
            select(MessageRow.provider_message_id, MessageRow.id).where(
                MessageRow.source_channel_id == channel_id,
                col(MessageRow.provider_message_id).in_(set(carried.values())),
            )
        ).all()
    )
    for row in rows:
        new = carried[row.id]
        free = holders.get(new, row.id) == row.id
        row.provider_message_id = (
            new if free and len(new) <= LONGEST["provider_message_id"] else None
        )
    session.flush()


def _merge_menus(session: Session, target_id: str, ids: list[str]) -> None:
    """One menu per channel survives a merge: the newest, which is the one customers answer."""
    menus = list(session.exec(select(MenuRow).where(col(MenuRow.conversation_id).in_(ids))))
    newest: dict[str, MenuRow] = {}
    for menu in menus:
        kept = newest.get(menu.channel_id)
        if kept is None or aware(menu.created_at) > aware(kept.created_at):
            newest[menu.channel_id] = menu
    for menu in menus:
        if newest[menu.channel_id] is not menu:
            session.delete(menu)
    # deletes first, so the move never meets a menu still holding (target, channel)
    session.flush()
    for menu in newest.values():
        menu.conversation_id = target_id
    session.flush()
