"""Locking what a merge changes, so that merges and appends through several nodes take turns.

Two merges of the same contacts at the same moment (say, A into B through one node and B into
A through another) must not both go through: each would point one contact at the other, and
neither id would answer any more. A merge therefore locks the live contacts it names, always
in the same order, and checks that they are still live once it holds them: the second merge
then waits for the first and finds what it left, as if the two had been asked one after the
other.

A merge of conversations locks them too, before it reads their messages: a message another
node appends meanwhile is then either in what the merge reads, or numbered after it in the
conversation merged into (an append takes the same rows' locks, and follows a merge it
waited for). On SQLite the writer already holds the database's one write lock; `FOR UPDATE`
is PostgreSQL's.

Merges lock in the order of ids; a group commit's appends lock their conversations in the
order their requests came. A batch holding one conversation and waiting for another that a
merge holds while it waits for the first is a deadlock PostgreSQL breaks after its
`deadlock_timeout` (a second by default): the writer runs that batch again, so nothing is
lost, and its requests are answered that much later.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from gateway.domain.errors import Refused
from gateway.domain.participants import resolve_contact, resolve_conversation
from gateway.store.models import ContactRow, ConversationRow

#: rounds of "resolve, lock, find one merged meanwhile" before giving up; each round means
#: another merge of the same contacts committed in between, so a few are plenty
LOCK_ROUNDS = 8


def lock_live_contacts(
    session: Session, contact_ids: Sequence[str]
) -> dict[str, ContactRow | None]:
    """Each id's contact, following merges, locked until the commit; None for no contact.

    The contacts returned are live (merged into nothing) and stay so until this transaction
    ends, since every merge locks the contacts it changes. A 409 `MERGE_CONFLICT` when others
    kept merging them meanwhile.
    """
    for _ in range(LOCK_ROUNDS):
        resolved = {contact_id: resolve_contact(session, contact_id) for contact_id in contact_ids}
        live_ids = sorted({c.id for c in resolved.values() if c is not None})
        # one order for every merge, so that two merges wait for each other, not deadlock
        locked = session.exec(
            select(ContactRow)
            .where(col(ContactRow.id).in_(live_ids))
            .order_by(col(ContactRow.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if all(row.merged_into is None for row in locked):
            return resolved
    raise Refused("MERGE_CONFLICT", "these contacts are being merged by others; try again", 409)


def lock_conversations_to_merge(
    session: Session, target_id: str, old_ids: Sequence[str]
) -> tuple[ConversationRow | None, list[ConversationRow]]:
    """The live conversation `target_id` answers as, and those of `old_ids` still live (one
    merged meanwhile stays where it went), all locked until the commit; None for no target.
    """
    for _ in range(LOCK_ROUNDS):
        target = resolve_conversation(session, target_id)
        if target is None:
            return None, []
        # one order for every merge, so that two merges wait for each other, not deadlock
        locked = session.exec(
            select(ConversationRow)
            .where(col(ConversationRow.id).in_({target.id, *old_ids}))
            .order_by(col(ConversationRow.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if target.merged_into is None:
            return target, [c for c in locked if c.id != target.id and c.merged_into is None]
    raise Refused(
        "MERGE_CONFLICT", "these conversations are being merged by others; try again", 409
    )
