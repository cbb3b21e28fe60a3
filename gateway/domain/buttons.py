"""The business message a button belongs to: a provider's tap (a postback, a quick reply)
names only the button's id, and the `button_interacted` event names the message too."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, select

from channels import Direction, MessageContent
from channels.links import links_as_text
from gateway.store.tables import MESSAGES

#: the business's latest messages in the conversation that are searched for the button
RECENT_MESSAGES = 50

_RECENT = (
    select(MESSAGES.c.id, MESSAGES.c.content)
    .where(
        MESSAGES.c.conversation_id == bindparam("conversation_id"),
        MESSAGES.c.direction == Direction.BUSINESS_TO_PARTICIPANT.value,
    )
    .order_by(MESSAGES.c.sequence.desc())
    .limit(RECENT_MESSAGES)
)


def interaction_ids(content: dict[str, Any]) -> set[str]:
    """The postback ids of the buttons a stored message carries."""
    try:
        buttons = MessageContent.model_validate(links_as_text(content)).buttons()
    except ValidationError:
        return set()
    return {b.interaction_id for b in buttons if b.interaction_id}


def message_with_button(
    connection: Connection, conversation_id: str, interaction_id: str
) -> str | None:
    """The latest business message in the conversation carrying a button with that id."""
    recent = connection.execute(_RECENT, {"conversation_id": conversation_id})
    for message_id, content in recent:
        if interaction_id in interaction_ids(content):
            return str(message_id)
    return None
