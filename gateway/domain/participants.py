"""Contacts, their identities on channels, and the one conversation each participant has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlmodel import Session, col, select

from channels import Participant, VerifiedIdentity
from gateway.clock import new_id, now
from gateway.store.models import ContactRow, ConversationRow, IdentityRow
from gateway.store.tables import CONTACTS, CONVERSATIONS, IDENTITIES

CONTACT = "contactId"
VISITOR = "anonymousVisitorId"
MEMBER = "memberId"
PARTICIPANT_KINDS = (CONTACT, VISITOR, MEMBER)


def find_identity(session: Session, channel_id: str, address: str) -> IdentityRow | None:
    return session.exec(
        select(IdentityRow).where(
            IdentityRow.channel_id == channel_id, IdentityRow.address == address
        )
    ).first()


def resolve_contact(session: Session, contact_id: str) -> ContactRow | None:
    """The contact, following merges (a merged-away id answers as its target)."""
    contact = session.get(ContactRow, contact_id)
    for _ in range(32):
        if contact is None or contact.merged_into is None:
            return contact
        contact = session.get(ContactRow, contact.merged_into)
    return contact


def resolve_conversation(session: Session, conversation_id: str) -> ConversationRow | None:
    """The conversation, following merges."""
    conversation = session.get(ConversationRow, conversation_id)
    for _ in range(32):
        if conversation is None or conversation.merged_into is None:
            return conversation
        conversation = session.get(ConversationRow, conversation.merged_into)
    return conversation


def owner_of(identity: IdentityRow) -> tuple[str, str]:
    """The participant (kind, id) an identity belongs to."""
    if identity.contact_id is not None:
        return CONTACT, identity.contact_id
    return VISITOR, identity.visitor_id or identity.address


def new_contact(session: Session, display_name: str) -> ContactRow:
    contact = ContactRow(id=new_id(), display_name=display_name[:255], created_at=now())
    session.add(contact)
    return contact


def ensure_identity(session: Session, channel_id: str, participant: Participant) -> IdentityRow:
    """The identity for an address on a channel, with a new contact behind it if needed."""
    identity = find_identity(session, channel_id, participant.address)
    if identity is not None:
        if identity.contact_id is not None and participant.display_name:
            _learn_name(session, identity.contact_id, participant)
        return identity
    identity = IdentityRow(channel_id=channel_id, address=participant.address, created_at=now())
    if participant.anonymous:
        identity.visitor_id = participant.address
    else:
        contact = new_contact(session, participant.display_name or participant.address)
        contact.image_url = participant.image_url
        identity.contact_id = contact.id
    session.add(identity)
    session.flush()
    return identity


def _learn_name(session: Session, contact_id: str, participant: Participant) -> None:
    contact = resolve_contact(session, contact_id)
    if contact is None or not participant.display_name:
        return
    # A name the provider gives replaces the placeholder (the address itself) only.
    if contact.display_name in (participant.address, "") or contact.display_name.startswith("+"):
        contact.display_name = participant.display_name[:255]
    if participant.image_url and not contact.image_url:
        contact.image_url = participant.image_url


def find_conversation(session: Session, kind: str, participant_id: str) -> ConversationRow | None:
    """The participant's one conversation (following merges), if it exists."""
    if kind == CONTACT:
        contact = resolve_contact(session, participant_id)
        if contact is not None:
            participant_id = contact.id
    row = session.exec(
        select(ConversationRow).where(
            ConversationRow.participant_kind == kind,
            ConversationRow.participant_id == participant_id,
        )
    ).first()
    return resolve_conversation(session, row.id) if row is not None else None


def ensure_conversation(
    session: Session, kind: str, participant_id: str
) -> tuple[ConversationRow, bool]:
    """The participant's one conversation (following merges), created when new."""
    found = find_conversation(session, kind, participant_id)
    if found is not None:
        return found, False
    if kind == CONTACT:
        contact = resolve_contact(session, participant_id)
        if contact is not None:
            participant_id = contact.id
    stamp = now()
    row = ConversationRow(
        id=new_id(),
        participant_kind=kind,
        participant_id=participant_id,
        created_at=stamp,
        last_activity_at=stamp,
    )
    session.add(row)
    session.flush()
    return row, True


def conversation_for(
    session: Session, channel_id: str, participant: Participant
) -> tuple[ConversationRow, IdentityRow, bool]:
    identity = ensure_identity(session, channel_id, participant)
    conversation, created = ensure_conversation(session, *owner_of(identity))
    return conversation, identity, created


def identities_of(session: Session, conversation: ConversationRow) -> list[IdentityRow]:
    """Every identity the conversation's participant can be reached on, oldest first."""
    kind, pid = conversation.participant_kind, conversation.participant_id
    if kind == CONTACT:
        clause = IdentityRow.contact_id == pid
    elif kind == VISITOR:
        clause = IdentityRow.visitor_id == pid
    else:
        return []
    return list(session.exec(select(IdentityRow).where(clause).order_by(col(IdentityRow.id))))


def contact_for_verified(
    session: Session, channel_id: str, verified: VerifiedIdentity
) -> ContactRow:
    """The contact a site vouches for, by the user id its signature covers.

    Only the user id is signed, so nothing else the visitor's browser sends (a phone number,
    an email) may link them to an existing contact: that would hand a stranger's history to
    whoever typed the number.
    """
    identity = find_identity(session, channel_id, verified.user_id)
    if identity is not None and identity.contact_id is not None:
        contact = resolve_contact(session, identity.contact_id)
        assert contact is not None
        return contact
    contact = new_contact(session, verified.name or verified.email or verified.user_id)
    if identity is None:
        session.add(
            IdentityRow(
                channel_id=channel_id,
                address=verified.user_id,
                contact_id=contact.id,
                created_at=now(),
            )
        )
    else:
        identity.contact_id, identity.visitor_id = contact.id, None
    session.flush()
    return contact


@dataclass(frozen=True)
class Resolved:
    """Where a participant's messages go, as `conversation_for` would say."""

    #: the identity's owner: the sender of the participant's messages
    owner: tuple[str, str]
    conversation_id: str
    #: the identity was created now (the participant's first contact on the channel)
    new: bool


def resolve_participants(
    session: Session, channel_id: str, participants: Sequence[Participant]
) -> dict[str, Resolved]:
    """`conversation_for` for many participants of one channel, with a few statements.

    Keyed by address. Identities, contacts and conversations are created when new; a
    provider's name replaces a placeholder name, as `conversation_for` does. Everything is
    read in the caller's transaction, so merges done by others are followed; a row someone
    else creates meanwhile makes the INSERT fail, and the caller's write is tried again.
    """
    connection = session.connection()
    wanted: dict[str, Participant] = {}
    for participant in participants:
        wanted.setdefault(participant.address, participant)
    owners: dict[str, tuple[str, str]] = {}
    for row in connection.execute(
        select(IDENTITIES.c.address, IDENTITIES.c.contact_id, IDENTITIES.c.visitor_id).where(
            IDENTITIES.c.channel_id == channel_id, IDENTITIES.c.address.in_(list(wanted))
        )
    ):
        if row.contact_id is not None:
            owners[row.address] = (CONTACT, row.contact_id)
        else:
            owners[row.address] = (VISITOR, row.visitor_id or row.address)
    known = set(owners)
    _learn_names(connection, {a: owners[a][1] for a in known if owners[a][0] == CONTACT}, wanted)
    created = [wanted[a] for a in wanted if a not in known]
    if created:
        owners.update(_create_identities(connection, channel_id, created))
    conversations = _conversations_of(connection, set(owners.values()))
    return {
        address: Resolved(owner, conversations[owner], address not in known)
        for address, owner in owners.items()
    }


def _create_identities(
    connection: Connection, channel_id: str, participants: list[Participant]
) -> dict[str, tuple[str, str]]:
    stamp = now()
    contacts: list[dict[str, Any]] = []
    identities: list[dict[str, Any]] = []
    owners: dict[str, tuple[str, str]] = {}
    for participant in participants:
        identity = {
            "channel_id": channel_id,
            "address": participant.address,
            "contact_id": None,
            "visitor_id": None,
            "opted_out": False,
            "created_at": stamp,
        }
        if participant.anonymous:
            identity["visitor_id"] = participant.address
            owners[participant.address] = (VISITOR, participant.address)
        else:
            contact_id = new_id()
            name = participant.display_name or participant.address
            contacts.append(
                {
                    "id": contact_id,
                    "display_name": name[:255],
                    "image_url": participant.image_url,
                    "merged_into": None,
                    "created_at": stamp,
                }
            )
            identity["contact_id"] = contact_id
            owners[participant.address] = (CONTACT, contact_id)
        identities.append(identity)
    if contacts:
        connection.execute(insert(CONTACTS), contacts)
    connection.execute(insert(IDENTITIES), identities)
    return owners


def _live_contacts(connection: Connection, contact_ids: set[str]) -> dict[str, Any]:
    """Each contact id → the row of the contact it is now (following merges)."""
    rows: dict[str, Any] = {}
    todo = set(contact_ids)
    for _ in range(32):
        if not todo:
            break
        found = connection.execute(
            select(
                CONTACTS.c.id, CONTACTS.c.display_name, CONTACTS.c.image_url, CONTACTS.c.merged_into
            ).where(CONTACTS.c.id.in_(list(todo)))
        ).all()
        rows.update((row.id, row) for row in found)
        todo = {row.merged_into for row in found if row.merged_into} - set(rows)
    live: dict[str, Any] = {}
    for contact_id in contact_ids:
        row = rows.get(contact_id)
        for _ in range(32):
            if row is None or row.merged_into is None:
                break
            row = rows.get(row.merged_into)
        if row is not None:
            live[contact_id] = row
    return live


def _learn_names(
    connection: Connection, contact_of: dict[str, str], wanted: dict[str, Participant]
) -> None:
    """What `_learn_name` does, for every named participant that already has a contact."""
    named = {a: c for a, c in contact_of.items() if wanted[a].display_name}
    if not named:
        return
    live = _live_contacts(connection, set(named.values()))
    changes: dict[str, dict[str, Any]] = {}
    for address, contact_id in named.items():
        contact = live.get(contact_id)
        participant = wanted[address]
        if contact is None or participant.display_name is None:
            continue
        name, image = contact.display_name, contact.image_url
        change = changes.get(contact.id, {"b_id": contact.id, "b_name": name, "b_image": image})
        if change["b_name"] in (address, "") or change["b_name"].startswith("+"):
            change["b_name"] = participant.display_name[:255]
        if participant.image_url and not change["b_image"]:
            change["b_image"] = participant.image_url
        if (change["b_name"], change["b_image"]) != (name, image):
            changes[contact.id] = change
    if changes:
        connection.execute(
            update(CONTACTS)
            .where(CONTACTS.c.id == bindparam("b_id"))
            .values(display_name=bindparam("b_name"), image_url=bindparam("b_image")),
            list(changes.values()),
        )


def _conversations_of(
    connection: Connection, owners: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Each owner → the id of their one live conversation, created when they have none."""
    live = _live_contacts(connection, {pid for kind, pid in owners if kind == CONTACT})
    # A merged-away contact's conversation is the live contact's one.
    keyed = {owner: _live_owner(owner, live) for owner in owners}
    found: dict[tuple[str, str], str] = {}
    for kind in {key[0] for key in keyed.values()}:
        ids = [key[1] for key in keyed.values() if key[0] == kind]
        for row in connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.participant_id).where(
                CONVERSATIONS.c.participant_kind == kind,
                CONVERSATIONS.c.participant_id.in_(ids),
            )
        ):
            found[(kind, row.participant_id)] = row.id
    targets = _live_conversations(connection, set(found.values()))
    stamp = now()
    new_rows: list[dict[str, Any]] = []
    for key in set(keyed.values()) - set(found):
        found[key] = new_id()
        targets[found[key]] = found[key]
        new_rows.append(
            {
                "id": found[key],
                "participant_kind": key[0],
                "participant_id": key[1],
                "merged_into": None,
                "last_sequence": 0,
                "created_at": stamp,
                "last_activity_at": stamp,
                "last_inbound_at": None,
                "last_inbound_channel_id": None,
            }
        )
    if new_rows:
        connection.execute(insert(CONVERSATIONS), new_rows)
    return {owner: targets[found[key]] for owner, key in keyed.items()}


def _live_owner(owner: tuple[str, str], live: dict[str, Any]) -> tuple[str, str]:
    kind, participant_id = owner
    if kind == CONTACT and participant_id in live:
        return kind, str(live[participant_id].id)
    return owner


def _live_conversations(connection: Connection, ids: set[str]) -> dict[str, str]:
    """Each conversation id → the live conversation it is now (following merges)."""
    merged: dict[str, str | None] = {}
    todo = set(ids)
    for _ in range(32):
        if not todo:
            break
        rows = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.merged_into).where(
                CONVERSATIONS.c.id.in_(list(todo))
            )
        ).all()
        merged.update((row.id, row.merged_into) for row in rows)
        todo = {row.merged_into for row in rows if row.merged_into} - set(merged)
    live: dict[str, str] = {}
    for conversation_id in ids:
        current = conversation_id
        for _ in range(32):
            target = merged.get(current)
            if target is None:
                break
            current = target
        live[conversation_id] = current
    return live
