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

from gateway.domain.participants import VISITOR
from gateway.store.models import ConversationRow, IdentityRow


def forget_silent_visitors(session: Session, created_before: datetime, batch: int) -> int:
    """Delete up to `batch` silent anonymous visitors created before the cut-off; how many."""
    candidates = select(ConversationRow.id).where(
        ConversationRow.participant_kind == VISITOR,
        ConversationRow.last_sequence == 0,
        col(ConversationRow.created_at) < created_before,
        col(ConversationRow.merged_into).is_(None),
    )
    ids = list(session.exec(candidates.limit(batch)))
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
