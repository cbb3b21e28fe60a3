"""The public JSON form of stored rows (SPEC section 4 records)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from channels.links import links_as_text
from gateway.clock import rfc3339
from gateway.domain.directory import Directory
from gateway.domain.participants import (
    CONTACT,
    VISITOR,
    identities_of_many,
    resolve_contacts,
)
from gateway.store.models import (
    ContactRow,
    ConversationRow,
    IdentityRow,
)


@dataclass(frozen=True)
class Business:
    name: str
    image_url: str | None = None

    def wire(self) -> dict[str, str]:
        data = {"name": self.name}
        if self.image_url:
            data["imageUrl"] = self.image_url
        return data


def _channel_type(directory: Directory, channel_id: str | None) -> str | None:
    if channel_id is None:
        return None
    info = directory.get(channel_id)
    return info.channel_type if info else None


class DeliveryFields(Protocol):
    """What the public form of a delivery is made of."""

    @property
    def channel_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def provider_message_ids(self) -> list[str] | None: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...


@dataclass(frozen=True)
class DeliveryState:
    """A delivery's public fields read or set apart from its row (by a claim, or by a send
    recorded the fast way), for its public form."""

    channel_id: str
    status: str
    provider_message_ids: list[str] | None
    updated_at: datetime
    error_code: str | None = None
    error_message: str | None = None


def delivery_wire(delivery: DeliveryFields) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channelId": delivery.channel_id,
        "status": delivery.status,
        "providerMessageIds": list(delivery.provider_message_ids or []),
        "updatedDate": rfc3339(delivery.updated_at),
    }
    if delivery.error_code:
        data["error"] = {"code": delivery.error_code, "message": delivery.error_message or ""}
    return data


class MessageFields(Protocol):
    """What the public form of a message is made of: a stored row, or one being appended."""

    @property
    def id(self) -> str: ...
    @property
    def conversation_id(self) -> str: ...
    @property
    def content(self) -> dict[str, Any]: ...
    @property
    def sender_kind(self) -> str: ...
    @property
    def sender_id(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def visibility(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def badges(self) -> list[Any] | None: ...
    @property
    def source_channel_id(self) -> str | None: ...
    @property
    def target_channel_id(self) -> str | None: ...


def message_wire(
    message: MessageFields, delivery: DeliveryFields | None, directory: Directory
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.id,
        "conversationId": message.conversation_id,
        # a link stored before links were limited to safe schemes goes out as text
        "content": links_as_text(message.content),
        "sender": {message.sender_kind: message.sender_id},
        "direction": message.direction,
        "visibility": message.visibility,
        "sequence": str(message.sequence),
        "createdDate": rfc3339(message.created_at),
        "badges": list(message.badges or []),
    }
    source_type = _channel_type(directory, message.source_channel_id)
    if message.source_channel_id:
        data["sourceChannelId"] = message.source_channel_id
        if source_type:
            data["sourceChannel"] = source_type
    if message.target_channel_id:
        data["targetChannelIds"] = [message.target_channel_id]
        target_type = _channel_type(directory, message.target_channel_id)
        data["targetChannels"] = [target_type] if target_type else []
    if delivery is not None:
        data["delivery"] = delivery_wire(delivery)
    return data


def _display(conversation: ConversationRow, contact: ContactRow | None) -> dict[str, str]:
    """The participant's name (and picture): the contact's, when the participant is one."""
    if contact is not None:
        data = {"name": contact.display_name}
        if contact.image_url:
            data["imageUrl"] = contact.image_url
        return data
    if conversation.participant_kind == VISITOR:
        return {"name": f"Visitor {conversation.participant_id[-6:]}"}
    return {"name": conversation.participant_id}


def conversation_wire(
    session: Session,
    conversation: ConversationRow,
    directory: Directory,
    business: Business,
) -> dict[str, Any]:
    return conversations_wire(session, [conversation], directory, business)[0]


def conversations_wire(
    session: Session,
    conversations: Sequence[ConversationRow],
    directory: Directory,
    business: Business,
) -> list[dict[str, Any]]:
    """The conversations as the API shows them, with a few reads for them all (a page costs
    the same reads as one conversation)."""
    identities = identities_of_many(session, conversations)
    contacts = resolve_contacts(
        session, (c.participant_id for c in conversations if c.participant_kind == CONTACT)
    )
    wires = []
    for conversation in conversations:
        channel_ids = list(
            dict.fromkeys(
                i.channel_id for i in identities[conversation.id] if i.channel_id in directory
            )
        )
        contact = (
            contacts.get(conversation.participant_id)
            if conversation.participant_kind == CONTACT
            else None
        )
        wires.append(
            {
                "id": conversation.id,
                "participant": {conversation.participant_kind: conversation.participant_id},
                "channels": list(dict.fromkeys(directory[c].channel_type for c in channel_ids)),
                "channelIds": channel_ids,
                "businessDisplayData": business.wire(),
                "participantDisplayData": _display(conversation, contact),
                "createdDate": rfc3339(conversation.created_at),
                "lastActivityDate": rfc3339(conversation.last_activity_at),
            }
        )
    return wires


def identity_wire(identity: IdentityRow, directory: Directory) -> dict[str, str]:
    info = directory.get(identity.channel_id)
    return {
        "channelId": identity.channel_id,
        "channelType": info.channel_type if info else "UNKNOWN",
        "address": identity.address,
    }


def contact_wire(
    contact: ContactRow, identities: list[IdentityRow], directory: Directory
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": contact.id,
        "displayName": contact.display_name,
        "identities": [identity_wire(i, directory) for i in identities],
        "optedOut": sorted({i.channel_id for i in identities if i.opted_out}),
        "createdDate": rfc3339(contact.created_at),
    }
    if contact.image_url:
        data["imageUrl"] = contact.image_url
    return data
