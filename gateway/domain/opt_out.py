"""A participant's opt-out on a channel, with the system note the agents see about it."""

from __future__ import annotations

from sqlmodel import Session

from channels import Participant
from gateway.domain.directory import Directory
from gateway.domain.messages import system_note
from gateway.domain.participants import conversation_for, find_identity


def set_opt_out(
    session: Session,
    channel_id: str,
    address: str,
    opted_out: bool,
    keyword: str,
    directory: Directory,
) -> None:
    """Opt an address out of (or back in to) a channel; tell the agents when it changed."""
    identity = find_identity(session, channel_id, address)
    if identity is None or identity.opted_out == opted_out:
        return
    identity.opted_out = opted_out
    conversation, _, _ = conversation_for(session, channel_id, Participant(address=address))
    if opted_out:
        text = f"The customer opted out of messages on {channel_id} ({keyword})."
    else:
        text = f"The customer opted back in to messages on {channel_id} ({keyword})."
    system_note(session, conversation, text, directory)
