"""Messaging windows: when a channel only lets the business answer for a while (Messenger)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from gateway.clock import aware, now
from gateway.domain.directory import Directory
from gateway.domain.messages import GATEWAY_SENDER, system_note
from gateway.store.models import ConversationRow, MessageRow

#: how far back the sweep looks for windows that closed (it runs far more often than this)
LOOKBACK = timedelta(hours=6)
CLOSED_NOTE = "The {hours} h messaging window on {channel} has closed"


def note_closed_windows(session: Session, directory: Directory, at: datetime | None = None) -> int:
    """Add a system note to each conversation whose messaging window just closed."""
    moment = at or now()
    added = 0
    for channel_id, info in directory.items():
        window = info.capabilities.messaging_window
        if window is not None:
            closed_before = moment - window
            rows = session.exec(
                select(ConversationRow).where(
                    ConversationRow.last_inbound_channel_id == channel_id,
                    col(ConversationRow.last_inbound_at) <= closed_before,
                    col(ConversationRow.last_inbound_at) > closed_before - LOOKBACK,
                    col(ConversationRow.merged_into).is_(None),
                )
            )
            for conversation in rows:
                if _already_noted(session, conversation):
                    continue
                hours = int(window.total_seconds() // 3600)
                text = CLOSED_NOTE.format(hours=hours, channel=channel_id)
                extra = (
                    f"; agents may still answer for {int(info.capabilities.agent_window.days)} days"
                    if info.capabilities.agent_window is not None
                    else ": the customer must write again before the business can answer"
                )
                system_note(session, conversation, text + extra + ".", directory)
                added += 1
    return added


def _already_noted(session: Session, conversation: ConversationRow) -> bool:
    assert conversation.last_inbound_at is not None
    notes = session.exec(
        select(MessageRow).where(
            MessageRow.conversation_id == conversation.id,
            MessageRow.sender_kind == GATEWAY_SENDER[0],
            MessageRow.sender_id == GATEWAY_SENDER[1],
            col(MessageRow.created_at) > aware(conversation.last_inbound_at),
        )
    )
    return any("messaging window" in str(n.content.get("system", {})) for n in notes)
