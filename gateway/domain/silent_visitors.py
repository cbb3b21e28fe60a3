"""Forgetting anonymous web chat visitors who opened a session and never wrote.

Opening a session costs an identity and a conversation row before the visitor says a word;
a flood of sessions (or simply many page views) would keep them forever. A conversation
with no message (`last_sequence = 0`), never merged, of an anonymous visitor and older than
the cut-off is deleted with its identity. If such a visitor comes back with their token,
opening the session again creates both afresh: they had nothing to lose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.domain.participants import VISITOR
from gateway.store.models import NO_MESSAGE_YET, ConversationRow, IdentityRow


def silent_candidates(created_before: datetime, batch: int) -> SelectOfScalar[str]:
    """Up to `batch` conversations of silent anonymous visitors created before the cut-off,
    read from `ix_conversations_silent`."""
    return (
        select(ConversationRow.id)
        .where(
            ConversationRow.participant_kind == VISITOR,
            NO_MESSAGE_YET,
            col(ConversationRow.created_at) < created_before,
            col(ConversationRow.merged_into).is_(None),
        )
        .limit(batch)
    )


def forget_silent_visitors(session: Session, created_before: datetime, batch: int) -> int:
    """Delete up to `batch` silent anonymous visitors created before the cut-off; how many."""
    ids = list(session.exec(silent_candidates(created_before, batch)))
    if not ids:
        return 0
    # `last_sequence = 0` is checked again by the DELETE itself: a first message stored
    # meanwhile (by another node) keeps its conversation
    deleted = session.execute(
        delete(ConversationRow)
        .where(col(ConversationRow.id).in_(ids), col(ConversationRow.last_sequence) == 0)
        .returning(col(ConversationRow.participant_id))
    )
    visitors = [row[0] for row in deleted]
    if visitors:
        session.execute(
            delete(IdentityRow).where(
                col(IdentityRow.visitor_id).in_(visitors), col(IdentityRow.contact_id).is_(None)
            )
        )
    return len(visitors)
