"""Contacts, their identities on channels, and the one conversation each participant has."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from channels import Participant, VerifiedIdentity
from gateway.clock import new_id, now
from gateway.store.models import ContactRow, ConversationRow, IdentityRow

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


def retire_visitor(conversation: ConversationRow) -> None:
    """Free the key of an anonymous visitor the site has identified.

    `conversation`, the visitor's anonymous one, was merged into the identified person's: it
    stays (its id answers as theirs) but no longer answers for the visitor's address. A token
    still carrying that address (copied before the person logged in on a shared computer)
    then opens a new, empty conversation, never the identified person's.
    """
    conversation.participant_id = f"identified:{conversation.id}"


def resolve_contact(session: Session, contact_id: str) -> ContactRow | None:
    """The contact, following merges (a merged-away id answers as its target)."""
    contact = session.get(ContactRow, contact_id)
    for _ in range(32):
        if contact is None or contact.merged_into is None:
            return contact
        contact = session.get(ContactRow, contact.merged_into)
    return contact


def resolve_conversation(
    session: Session, conversation_id: str, *, fresh: bool = False
) -> ConversationRow | None:
    """The conversation, following merges; `fresh` reads each row again from the database,
    rather than taking what this session read before (another node may have merged it)."""
    conversation = session.get(ConversationRow, conversation_id, populate_existing=fresh)
    for _ in range(32):
        if conversation is None or conversation.merged_into is None:
            return conversation
        conversation = session.get(
            ConversationRow, conversation.merged_into, populate_existing=fresh
        )
    return conversation


def participant_of(session: Session, conversation_id: str) -> tuple[str, str] | None:
    """The (kind, id) of the conversation's participant, following merges."""
    conversation = resolve_conversation(session, conversation_id)
    if conversation is None:
        return None
    return conversation.participant_kind, conversation.participant_id


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
    return identities_of_many(session, [conversation])[conversation.id]


#: the identity column that names each kind of participant (members have no identities)
OWNER_COLUMN = {CONTACT: "contact_id", VISITOR: "visitor_id"}


def identities_of_many(
    session: Session, conversations: Sequence[ConversationRow]
) -> dict[str, list[IdentityRow]]:
    """`identities_of` for many conversations, by conversation id, with one read per kind of
    participant (a page of conversations costs two reads, not one per conversation)."""
    by_participant: dict[tuple[str, str], list[IdentityRow]] = {}
    for kind, name in OWNER_COLUMN.items():
        ids = {c.participant_id for c in conversations if c.participant_kind == kind}
        if not ids:
            continue
        column = col(getattr(IdentityRow, name))
        rows = session.exec(
            select(IdentityRow).where(column.in_(ids)).order_by(col(IdentityRow.id))
        )
        for row in rows:
            by_participant.setdefault((kind, getattr(row, name)), []).append(row)
    return {
        c.id: by_participant.get((c.participant_kind, c.participant_id), []) for c in conversations
    }


def resolve_contacts(session: Session, contact_ids: Iterable[str]) -> dict[str, ContactRow]:
    """`resolve_contact` for many ids, by id, with one read (plus one per merge hop of the
    rare contact merged away); ids of no contact are left out."""
    ids = set(contact_ids)
    if not ids:
        return {}
    rows = session.exec(select(ContactRow).where(col(ContactRow.id).in_(ids)))
    found: dict[str, ContactRow] = {}
    for row in rows:
        resolved = row if row.merged_into is None else resolve_contact(session, row.id)
        if resolved is not None:
            found[row.id] = resolved
    return found


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
