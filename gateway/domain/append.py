"""Appending many messages at once with a few Core statements: the busy write paths' way.

`append_messages` numbers messages in their conversations and stores them with one
UPDATE (run for every conversation at once), one SELECT and one INSERT, however many
messages and conversations there are. A conversation merged away meanwhile (by another
request, app or node) is never written to: the UPDATE only takes live conversations, and
messages for a merged one go to the conversation it was merged into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from channels import Direction, Visibility
from gateway.clock import new_id
from gateway.store.bulk import BulkInsert, SelectIn, placeholder, processors
from gateway.store.tables import CONVERSATIONS, MESSAGES

#: merges of merges are followed this far (the same bound as `resolve_conversation`)
MAX_MERGE_HOPS = 32

#: takes numbers for `count` messages; only a live (not merged) conversation matches
_TOUCH = (
    "UPDATE conversations SET last_sequence = last_sequence + {p}, "
    "last_activity_at = CASE WHEN last_activity_at < {p} THEN {p} ELSE last_activity_at END, "
    # The participant's latest message by its own time: a message that arrives late with
    # an older time must not close the messaging window or move the reply channel. (Every
    # SET reads the row as it was, so the channel follows the same comparison.)
    "last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at <= {p} "
    "THEN {p} ELSE last_inbound_at END, "
    "last_inbound_channel_id = CASE WHEN last_inbound_at IS NULL OR last_inbound_at <= {p} "
    "THEN {p} ELSE last_inbound_channel_id END "
    "WHERE id = {p} AND merged_into IS NULL"
)


@dataclass
class NewMessage:
    """A message to append; `sequence` (and `conversation_id`, after a merge) are set then."""

    conversation_id: str
    content: dict[str, Any]
    sender_kind: str
    sender_id: str
    direction: str
    created_at: datetime
    visibility: str = Visibility.BUSINESS_AND_PARTICIPANT.value
    source_channel_id: str | None = None
    target_channel_id: str | None = None
    provider_message_id: str | None = None
    badges: list[Any] | None = field(default_factory=list)
    interaction_id: str | None = None
    id: str = field(default_factory=new_id)
    sequence: int = 0


#: the columns of a stored message: the fields of NewMessage, one for one
MESSAGE_COLUMNS = tuple(f.name for f in fields(NewMessage))
_INSERT = BulkInsert(MESSAGES, list(MESSAGE_COLUMNS), attributes=True)
_NUMBERED = SelectIn(CONVERSATIONS, ["id", "last_sequence", "merged_into"], "id")


class ConversationGone(LookupError):
    """A message was for a conversation that does not exist."""


def append_messages(session: Session, messages: Sequence[NewMessage]) -> None:
    """Number and store the messages, in order within each conversation."""
    if not messages:
        return
    connection = session.connection()
    pending = list(messages)
    for _ in range(MAX_MERGE_HOPS):
        pending = _number(connection, pending)
        if not pending:
            break
    else:
        raise ConversationGone("a conversation's merges go on too long")
    _INSERT.execute(connection, messages)


def _number(connection: Connection, messages: list[NewMessage]) -> list[NewMessage]:
    """Take sequence numbers for `messages`; returns those whose conversation merged away."""
    by_conversation: dict[str, list[NewMessage]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    [when] = processors(connection, CONVERSATIONS, ["last_activity_at"])

    def stamp(value: datetime | None) -> Any:
        return value if when is None or value is None else when(value)

    params = []
    for conversation_id, group in by_conversation.items():
        inbound = [
            m
            for m in group
            if m.direction == Direction.PARTICIPANT_TO_BUSINESS.value and m.source_channel_id
        ]
        latest = stamp(max(m.created_at for m in group))
        # the latest by time; of equal times, the last in order (as a later request's would)
        newest = max(reversed(inbound), key=lambda m: m.created_at) if inbound else None
        inbound_at = stamp(newest.created_at) if newest else None
        inbound_channel = newest.source_channel_id if newest else None
        params.append(
            (
                len(group),
                latest,
                latest,
                inbound_at,
                inbound_at,
                inbound_at,
                inbound_channel,
                conversation_id,
            )
        )
    # Rows locked in one order by every writer, so two nodes' commits wait, not deadlock.
    params.sort(key=lambda row: str(row[-1]))
    connection.exec_driver_sql(_TOUCH.format(p=placeholder(connection)), params)
    # Our UPDATE holds these rows until the commit, so what we read now is what it wrote.
    rows = _NUMBERED.execute(connection, list(by_conversation))
    found = {conversation_id: (last, merged) for conversation_id, last, merged in rows}
    moved: list[NewMessage] = []
    for conversation_id, group in by_conversation.items():
        if conversation_id not in found:
            raise ConversationGone(f"conversation {conversation_id} does not exist")
        last_sequence, merged_into = found[conversation_id]
        if merged_into is not None:
            for message in group:
                message.conversation_id = merged_into
            moved.extend(group)
            continue
        first = last_sequence - len(group) + 1
        for offset, message in enumerate(group):
            message.sequence = first + offset
    return moved
