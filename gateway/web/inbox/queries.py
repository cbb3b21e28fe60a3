"""What the inbox page lists: conversations with search, previews and unread counts; threads.

Conversations without messages (a visitor who only opened the chat) are not listed.
Unread, as the page counts it: the participant's messages since the business last wrote to
them (a reply by any agent, API client or app; internal notes and system notices do not
count). A team inbox shares it: a conversation stays "unread" until someone answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, or_, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from channels import Direction, Visibility
from gateway.clock import aware, now, rfc3339
from gateway.domain.directory import Directory
from gateway.domain.participants import CONTACT, VISITOR, identities_of, resolve_conversation
from gateway.domain.records import Business, conversation_wire, conversations_wire, message_wire
from gateway.store.models import (
    ContactRow,
    ConversationRow,
    DeliveryRow,
    IdentityRow,
    MessageRow,
)

OUT = Direction.BUSINESS_TO_PARTICIPANT.value
IN = Direction.PARTICIPANT_TO_BUSINESS.value
PUBLIC = Visibility.BUSINESS_AND_PARTICIPANT.value


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_clause(query: str) -> Any:
    pattern = _like(query)
    named = select(ContactRow.id).where(col(ContactRow.display_name).ilike(pattern, escape="\\"))
    addressed = select(IdentityRow.contact_id).where(
        col(IdentityRow.address).ilike(pattern, escape="\\")
    )
    visitors = select(IdentityRow.visitor_id).where(
        col(IdentityRow.address).ilike(pattern, escape="\\")
    )
    texts = select(MessageRow.conversation_id).where(
        cast(MessageRow.content, String).ilike(pattern, escape="\\")
    )
    return or_(
        and_(
            col(ConversationRow.participant_kind) == CONTACT,
            or_(
                col(ConversationRow.participant_id).in_(named),
                col(ConversationRow.participant_id).in_(addressed),
            ),
        ),
        and_(
            col(ConversationRow.participant_kind) == VISITOR,
            col(ConversationRow.participant_id).in_(visitors),
        ),
        col(ConversationRow.participant_id).ilike(pattern, escape="\\"),
        col(ConversationRow.id).in_(texts),
    )


def unread_counts(session: Session, ids: list[str]) -> dict[str, int]:
    """Participant messages since the business's last reply, per conversation."""
    if not ids:
        return {}
    reply = aliased(MessageRow)
    last_reply = (
        select(func.coalesce(func.max(reply.sequence), 0))
        .where(
            reply.conversation_id == MessageRow.conversation_id,
            reply.direction == OUT,
            reply.visibility == PUBLIC,
        )
        .scalar_subquery()
    )
    rows = session.exec(
        select(MessageRow.conversation_id, func.count())
        .where(
            col(MessageRow.conversation_id).in_(ids),
            MessageRow.direction == IN,
            col(MessageRow.sequence) > last_reply,
        )
        .group_by(col(MessageRow.conversation_id))
    )
    return {cid: int(count) for cid, count in rows}


def last_messages(session: Session, ids: list[str]) -> dict[str, MessageRow]:
    if not ids:
        return {}
    rows = session.exec(
        select(MessageRow)
        .join(
            ConversationRow,
            and_(
                col(ConversationRow.id) == col(MessageRow.conversation_id),
                col(ConversationRow.last_sequence) == col(MessageRow.sequence),
            ),
        )
        .where(col(ConversationRow.id).in_(ids))
    )
    return {m.conversation_id: m for m in rows}


def preview(message: MessageRow) -> dict[str, Any]:
    content = message.content or {}
    text = content.get("previewText")
    if not isinstance(text, str) or not text:
        text = _fallback_preview(content)
    return {
        "text": text[:200],
        "direction": message.direction,
        "visibility": message.visibility,
        "system": "system" in content,
        "createdDate": rfc3339(message.created_at),
    }


def _fallback_preview(content: dict[str, Any]) -> str:
    from channels import MessageContent
    from channels.content import preview_of
    from channels.links import links_as_text

    try:
        return preview_of(MessageContent.model_validate(links_as_text(content)))
    except ValueError:
        return ""


def list_conversations(
    session: Session,
    directory: Directory,
    business: Business,
    *,
    query: str = "",
    limit: int = 50,
    before: str | None = None,
) -> dict[str, Any]:
    """Newest activity first, each with its preview and unread count."""
    # A visitor who only opened the chat has an empty conversation: nothing to show yet.
    statement = select(ConversationRow).where(
        col(ConversationRow.merged_into).is_(None), col(ConversationRow.last_sequence) > 0
    )
    if query.strip():
        statement = statement.where(_search_clause(query.strip()))
    if before:
        anchor = session.get(ConversationRow, before)
        if anchor is not None:
            statement = statement.where(
                tuple_(col(ConversationRow.last_activity_at), col(ConversationRow.id))
                < (anchor.last_activity_at, anchor.id)
            )
    # merged_into is NULL on every listed row; ordering by it too lets both databases read
    # the page straight from ix_conversations_live_activity.
    statement = statement.order_by(
        col(ConversationRow.merged_into).desc(),
        col(ConversationRow.last_activity_at).desc(),
        col(ConversationRow.id).desc(),
    ).limit(limit + 1)
    rows = list(session.exec(statement))
    more, rows = len(rows) > limit, rows[:limit]
    ids = [c.id for c in rows]
    unread = unread_counts(session, ids)
    lasts = last_messages(session, ids)
    items = conversations_wire(session, rows, directory, business)
    for conversation, item in zip(rows, items, strict=True):
        item["unreadCount"] = unread.get(conversation.id, 0)
        last = lasts.get(conversation.id)
        item["lastMessage"] = preview(last) if last else None
    return {"conversations": items, "hasMore": more}


def _windows(
    session: Session, conversation: ConversationRow, directory: Directory
) -> dict[str, dict[str, Any]]:
    """The messaging window of each channel that has one (Messenger's 24 h), per channel."""
    windows: dict[str, dict[str, Any]] = {}
    for channel_id, info in directory.items():
        window = info.capabilities.messaging_window
        if window is None:
            continue
        last = session.exec(
            select(func.max(MessageRow.created_at)).where(
                MessageRow.conversation_id == conversation.id,
                MessageRow.source_channel_id == channel_id,
                MessageRow.direction == IN,
            )
        ).one()
        if last is None:
            continue
        age = now() - aware(last)
        agent_window = info.capabilities.agent_window
        longest = max(window, agent_window) if agent_window else window
        windows[channel_id] = {
            "lastInboundDate": rfc3339(last),
            "open": age <= window,
            "agentOpen": agent_window is not None and age <= agent_window,
            "closesDate": rfc3339(aware(last) + longest),
        }
    return windows


def thread(
    session: Session,
    conversation_id: str,
    directory: Directory,
    business: Business,
    *,
    before: int | None = None,
    limit: int = 100,
) -> dict[str, Any] | None:
    """One conversation with its participant's identities and its messages (all visibilities)."""
    conversation = resolve_conversation(session, conversation_id)
    if conversation is None:
        return None
    statement = select(MessageRow).where(MessageRow.conversation_id == conversation.id)
    if before is not None:
        statement = statement.where(col(MessageRow.sequence) < before)
    rows = list(session.exec(statement.order_by(col(MessageRow.sequence).desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    rows.reverse()
    deliveries = {
        d.message_id: d
        for d in session.exec(
            select(DeliveryRow).where(col(DeliveryRow.message_id).in_([m.id for m in rows]))
        )
    }
    identities = [
        {
            "channelId": i.channel_id,
            "channelType": directory[i.channel_id].channel_type,
            "address": i.address,
            "optedOut": i.opted_out,
        }
        for i in identities_of(session, conversation)
        if i.channel_id in directory
    ]
    wire = conversation_wire(session, conversation, directory, business)
    wire["identities"] = identities
    wire["windows"] = _windows(session, conversation, directory)
    wire["unreadCount"] = unread_counts(session, [conversation.id]).get(conversation.id, 0)
    return {
        "conversation": wire,
        "messages": [message_wire(m, deliveries.get(m.id), directory) for m in rows],
        "hasMore": more,
    }
