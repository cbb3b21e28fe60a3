"""Messaging windows: when a channel only lets the business answer for a while (Messenger)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from channels import Direction
from gateway.clock import now
from gateway.domain.directory import Directory
from gateway.domain.messages import system_note
from gateway.store.models import ClosedWindowRow, ConversationRow, MessageRow

#: how far back the sweep looks for windows that closed (it runs far more often than this)
LOOKBACK = timedelta(hours=6)
#: how long a noted window is remembered: long after any sweep could ask about it again
REMEMBER = timedelta(days=7)
CLOSED_NOTE = "The {hours} h messaging window on {channel} has closed"
IN = Direction.PARTICIPANT_TO_BUSINESS.value


def note_closed_windows(session: Session, directory: Directory, at: datetime | None = None) -> int:
    """Add a system note to each conversation whose messaging window just closed, once."""
    moment = at or now()
    added = 0
    for channel_id, info in directory.items():
        window = info.capabilities.messaging_window
        if window is None:
            continue
        for conversation_id, opener in _closed_unnoted(session, channel_id, moment - window):
            # another sweep (another daemon) may be noting the same window right now
            if not _record_closed(session, opener, channel_id, moment):
                continue
            conversation = session.get(ConversationRow, conversation_id)
            assert conversation is not None
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


def _closed_unnoted(
    session: Session, channel_id: str, closed_before: datetime
) -> list[tuple[str, str]]:
    """Conversations whose window on the channel closed lately and is not noted yet, each
    with the participant's message that opened that window."""
    opener = (
        select(MessageRow.id)
        .where(
            MessageRow.conversation_id == ConversationRow.id,
            MessageRow.direction == IN,
            MessageRow.source_channel_id == channel_id,
            # the latest by its own time, which opened the window, though a message with an
            # older time may have arrived (and been stored) after it
            col(MessageRow.created_at) >= ConversationRow.last_inbound_at,
        )
        .order_by(col(MessageRow.sequence).desc())
        .limit(1)
        .correlate(ConversationRow)
        .scalar_subquery()
    )
    closed = (
        select(col(ConversationRow.id).label("conversation_id"), opener.label("opener"))
        .where(
            ConversationRow.last_inbound_channel_id == channel_id,
            col(ConversationRow.last_inbound_at) <= closed_before,
            col(ConversationRow.last_inbound_at) > closed_before - LOOKBACK,
            col(ConversationRow.merged_into).is_(None),
        )
        .subquery()
    )
    noted = exists().where(col(ClosedWindowRow.inbound_message_id) == closed.c.opener)
    rows = session.execute(
        select(closed.c.conversation_id, closed.c.opener).where(
            closed.c.opener.is_not(None), ~noted
        )
    )
    return [(str(row.conversation_id), str(row.opener)) for row in rows]


def _record_closed(session: Session, opener: str, channel_id: str, moment: datetime) -> bool:
    """Record the window `opener` opened as noted; False when another sweep did it first.

    On PostgreSQL a concurrent sweep's insert of the same window waits for this transaction
    and then inserts nothing, so exactly one of them writes the note.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ClosedWindowRow)
        .values(inbound_message_id=opener, channel_id=channel_id, noted_at=moment)
        .on_conflict_do_nothing(index_elements=["inbound_message_id"])
        .returning(col(ClosedWindowRow.inbound_message_id))
    )
    return session.execute(statement).first() is not None


def forget_closed_windows(session: Session) -> int:
    """Forget noted windows that closed so long ago that no sweep looks at them any more."""
    result = session.execute(
        delete(ClosedWindowRow).where(col(ClosedWindowRow.noted_at) < now() - REMEMBER)
    )
    return int(getattr(result, "rowcount", 0) or 0)
