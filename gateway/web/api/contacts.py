"""`/inbox/v2/contacts` (ext): create a contact with identities, get one, merge others into it."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.clock import now
from gateway.domain.directory import Directory
from gateway.domain.errors import Refused
from gateway.domain.merge_locks import lock_live_contacts
from gateway.domain.messages import merge_conversations
from gateway.domain.participants import (
    CONTACT,
    ensure_conversation,
    find_identity,
    new_contact,
    resolve_contact,
)
from gateway.domain.records import contact_wire
from gateway.state import GATEWAY
from gateway.store.models import ContactRow, ConversationRow, IdentityRow
from gateway.web.api.bodies import read_body
from gateway.web.api.errors import Invalid
from gateway.web.api.schemas import CreateContactRequest, IdentityIn, MergeContactsRequest

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def contact_not_found(contact_id: str) -> Refused:
    return Refused("CONTACT_NOT_FOUND", f"contact {contact_id!r} not found", 404)


def identities_of_contact(session: Session, contact_id: str) -> list[IdentityRow]:
    return list(
        session.exec(
            select(IdentityRow)
            .where(IdentityRow.contact_id == contact_id)
            .order_by(col(IdentityRow.id))
        )
    )


def wire_of(session: Session, contact: ContactRow, directory: Directory) -> dict[str, Any]:
    return {"contact": contact_wire(contact, identities_of_contact(session, contact.id), directory)}


def _check_identities(identities: list[IdentityIn], directory: Directory) -> None:
    problems = []
    for index, identity in enumerate(identities):
        info = directory.get(identity.channel_id)
        if info is None:
            problems.append(
                (
                    f"identities.{index}.channelId",
                    f"no channel {identity.channel_id!r} is configured",
                )
            )
        elif info.channel_type == "SMS" and not E164.fullmatch(identity.address):
            problems.append(
                (
                    f"identities.{index}.address",
                    "an SMS address is an E.164 number, e.g. +15550001111",
                )
            )
    if problems:
        raise Invalid(problems)


async def create_contact(request: web.Request) -> web.Response:
    """A contact with its addresses; an address another participant holds is a 409."""
    body = await read_body(request, CreateContactRequest)
    gw = request.config_dict[GATEWAY]
    _check_identities(body.identities, gw.directory)
    wanted = list(dict.fromkeys((i.channel_id, i.address) for i in body.identities))

    def create(session: Session) -> dict[str, Any]:
        for channel_id, address in wanted:
            if find_identity(session, channel_id, address) is not None:
                raise Refused(
                    "IDENTITY_TAKEN",
                    f"address {address!r} on channel {channel_id!r} belongs to another participant",
                    409,
                )
        name = body.display_name or (wanted[0][1] if wanted else "Contact")
        contact = new_contact(session, name)
        stamp = now()
        for channel_id, address in wanted:
            session.add(
                IdentityRow(
                    channel_id=channel_id, address=address, contact_id=contact.id, created_at=stamp
                )
            )
        session.flush()
        return wire_of(session, contact, gw.directory)

    return web.json_response(await gw.db.write(create))


async def get_contact(request: web.Request) -> web.Response:
    """One contact; an id merged away answers as the contact it went into."""
    contact_id = request.match_info["id"]
    gw = request.config_dict[GATEWAY]

    def read(session: Session) -> dict[str, Any]:
        contact = resolve_contact(session, contact_id)
        if contact is None:
            raise contact_not_found(contact_id)
        return wire_of(session, contact, gw.directory)

    return web.json_response(await gw.db.read(read))


async def merge_contacts(request: web.Request) -> web.Response:
    """Merge the source contacts into this one: identities, then conversations."""
    target_id = request.match_info["id"]
    body = await read_body(request, MergeContactsRequest)
    gw = request.config_dict[GATEWAY]

    def merge(session: Session) -> dict[str, Any]:
        # Locked, so that a merge of the same contacts through another node waits for this
        # one and then finds them merged (as a merge asked again here would), never the
        # other way round: two contacts merged into each other would both be gone.
        found = lock_live_contacts(session, [target_id, *body.source_contact_ids])
        target = found[target_id]
        if target is None:
            raise contact_not_found(target_id)
        sources: dict[str, ContactRow] = {}
        for source_id in body.source_contact_ids:
            source = found[source_id]
            if source is None:
                raise contact_not_found(source_id)
            if source.id != target.id:
                sources[source.id] = source
        if sources:
            _merge(session, target, list(sources.values()))
        return wire_of(session, target, gw.directory)

    return web.json_response(await gw.db.write(merge))


def _merge(session: Session, target: ContactRow, sources: list[ContactRow]) -> None:
    source_ids = [s.id for s in sources]
    session.execute(
        update(IdentityRow)
        .where(col(IdentityRow.contact_id).in_(source_ids))
        .values(contact_id=target.id)
    )
    for source in sources:
        source.merged_into = target.id
    # Contacts merged into a source before now answer as the target in one hop: however many
    # merges follow one another, an old id never sits further than that from its contact.
    session.execute(
        update(ContactRow)
        .where(col(ContactRow.merged_into).in_(source_ids))
        .values(merged_into=target.id)
    )
    olds = list(
        session.exec(
            select(ConversationRow).where(
                ConversationRow.participant_kind == CONTACT,
                col(ConversationRow.participant_id).in_(source_ids),
                col(ConversationRow.merged_into).is_(None),
            )
        )
    )
    session.flush()
    if not olds:
        return
    conversation, _ = ensure_conversation(session, CONTACT, target.id)
    merge_conversations(session, conversation, olds)
