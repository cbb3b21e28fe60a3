"""`conversation_for` for many participants of one channel at once, for the busy inbound path.

One SELECT finds, for every address, its identity, contact and conversation; only merges
(a merged contact or conversation) and newcomers take more statements. Everything is read
in the caller's transaction, so merges done by other requests, apps or nodes are followed;
a row someone else creates meanwhile makes the INSERT fail, and the caller tries again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, insert, select, update
from sqlmodel import Session

from channels import Participant
from gateway.clock import new_id, now
from gateway.domain.participants import CONTACT, VISITOR
from gateway.store.tables import CONTACTS, CONVERSATIONS, IDENTITIES

#: merges of merges are followed this far (as `resolve_contact` does)
MAX_MERGE_HOPS = 32

_OWNER_KIND = case((IDENTITIES.c.contact_id.is_not(None), CONTACT), else_=VISITOR)
_OWNER_ID = func.coalesce(IDENTITIES.c.contact_id, IDENTITIES.c.visitor_id, IDENTITIES.c.address)
_KNOWN = (
    select(
        IDENTITIES.c.address,
        IDENTITIES.c.contact_id,
        _OWNER_ID.label("owner_id"),
        CONTACTS.c.display_name,
        CONTACTS.c.image_url,
        CONTACTS.c.merged_into.label("contact_merged_into"),
        CONVERSATIONS.c.id.label("conversation_id"),
        CONVERSATIONS.c.merged_into.label("conversation_merged_into"),
    )
    .select_from(
        IDENTITIES.outerjoin(CONTACTS, CONTACTS.c.id == IDENTITIES.c.contact_id).outerjoin(
            CONVERSATIONS,
            and_(
                CONVERSATIONS.c.participant_kind == _OWNER_KIND,
                CONVERSATIONS.c.participant_id == _OWNER_ID,
            ),
        )
    )
    .where(
        IDENTITIES.c.channel_id == bindparam("b_channel"),
        IDENTITIES.c.address.in_(bindparam("b_addresses", expanding=True)),
    )
)


@dataclass(frozen=True)
class Resolved:
    """Where a participant's messages go, as `conversation_for` would say."""

    #: the identity's owner: the sender of the participant's messages
    owner: tuple[str, str]
    conversation_id: str
    #: the identity was created now (the participant's first contact on the channel)
    new: bool


@dataclass(frozen=True)
class _Contact:
    id: str
    display_name: str
    image_url: str | None


def resolve_participants(
    session: Session, channel_id: str, participants: Sequence[Participant]
) -> dict[str, Resolved]:
    """Each address → its owner and live conversation; what is new is created.

    A provider's name replaces a placeholder name, as `conversation_for` does.
    """
    connection = session.connection()
    wanted: dict[str, Participant] = {}
    for participant in participants:
        wanted.setdefault(participant.address, participant)
    owners: dict[str, tuple[str, str]] = {}
    contacts: dict[str, _Contact] = {}  # by the contact id an identity holds: the live one
    conversations: dict[tuple[str, str], str] = {}
    merged: set[str] = set()
    rows = connection.execute(_KNOWN, {"b_channel": channel_id, "b_addresses": list(wanted)})
    for row in rows:
        live_conversation = row.conversation_id and row.conversation_merged_into is None
        if row.contact_id is None:
            owner = (VISITOR, row.owner_id)
        else:
            owner = (CONTACT, row.contact_id)
            if row.contact_merged_into is not None or row.display_name is None:
                merged.add(row.contact_id)
                live_conversation = False
            else:
                contacts[row.contact_id] = _Contact(row.contact_id, row.display_name, row.image_url)
        owners[row.address] = owner
        if live_conversation:
            conversations[owner] = row.conversation_id
    if merged:
        contacts.update(_live_contacts(connection, merged))
    known = set(owners)
    _learn_names(connection, owners, contacts, wanted)
    created = [wanted[a] for a in wanted if a not in known]
    if created:
        owners.update(_create_identities(connection, channel_id, created))
    missing = {owner for owner in owners.values() if owner not in conversations}
    if missing:
        conversations.update(_conversations_of(connection, missing, contacts))
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
        identity: dict[str, Any] = {
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


def _live_contacts(connection: Connection, contact_ids: Iterable[str]) -> dict[str, _Contact]:
    """Each contact id → the contact it is now (following merges); unknown ids are left out."""
    rows: dict[str, Any] = {}
    todo = set(contact_ids)
    for _ in range(MAX_MERGE_HOPS):
        if not todo:
            break
        found = connection.execute(
            select(
                CONTACTS.c.id,
                CONTACTS.c.display_name,
                CONTACTS.c.image_url,
                CONTACTS.c.merged_into,
            ).where(CONTACTS.c.id.in_(list(todo)))
        ).all()
        rows.update((row.id, row) for row in found)
        todo = {row.merged_into for row in found if row.merged_into} - set(rows)
    live: dict[str, _Contact] = {}
    for contact_id in contact_ids:
        row = rows.get(contact_id)
        for _ in range(MAX_MERGE_HOPS):
            if row is None or row.merged_into is None:
                break
            row = rows.get(row.merged_into)
        if row is not None:
            live[contact_id] = _Contact(row.id, row.display_name, row.image_url)
    return live


def _learn_names(
    connection: Connection,
    owners: dict[str, tuple[str, str]],
    contacts: dict[str, _Contact],
    wanted: dict[str, Participant],
) -> None:
    """What `_learn_name` does, for every named participant that already has a contact."""
    changes: dict[str, dict[str, Any]] = {}
    for address, (kind, contact_id) in owners.items():
        given = wanted[address]
        contact = contacts.get(contact_id) if kind == CONTACT else None
        if contact is None or not given.display_name:
            continue
        change = changes.get(
            contact.id,
            {"b_id": contact.id, "b_name": contact.display_name, "b_image": contact.image_url},
        )
        if change["b_name"] in (address, "") or change["b_name"].startswith("+"):
            change["b_name"] = given.display_name[:255]
        if given.image_url and not change["b_image"]:
            change["b_image"] = given.image_url
        if (change["b_name"], change["b_image"]) != (contact.display_name, contact.image_url):
            changes[contact.id] = change
    if changes:
        connection.execute(
            update(CONTACTS)
            .where(CONTACTS.c.id == bindparam("b_id"))
            .values(display_name=bindparam("b_name"), image_url=bindparam("b_image")),
            list(changes.values()),
        )


def _conversations_of(
    connection: Connection, owners: set[tuple[str, str]], contacts: dict[str, _Contact]
) -> dict[tuple[str, str], str]:
    """Each owner → the id of their one live conversation, created when they have none."""
    # A merged-away contact's conversation is the live contact's one.
    keyed = {owner: _live_owner(owner, contacts) for owner in owners}
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
        conversation_id = new_id()
        found[key] = targets[conversation_id] = conversation_id
        new_rows.append(
            {
                "id": conversation_id,
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


def _live_owner(owner: tuple[str, str], contacts: dict[str, _Contact]) -> tuple[str, str]:
    kind, participant_id = owner
    if kind == CONTACT and participant_id in contacts:
        return kind, contacts[participant_id].id
    return owner


def _live_conversations(connection: Connection, ids: set[str]) -> dict[str, str]:
    """Each conversation id → the live conversation it is now (following merges)."""
    merged_into: dict[str, str | None] = {}
    todo = set(ids)
    for _ in range(MAX_MERGE_HOPS):
        if not todo:
            break
        rows = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.merged_into).where(
                CONVERSATIONS.c.id.in_(list(todo))
            )
        ).all()
        merged_into.update((row.id, row.merged_into) for row in rows)
        todo = {row.merged_into for row in rows if row.merged_into} - set(merged_into)
    live: dict[str, str] = {}
    for conversation_id in ids:
        current = conversation_id
        for _ in range(MAX_MERGE_HOPS):
            target = merged_into.get(current)
            if target is None:
                break
            current = target
        live[conversation_id] = current
    return live
