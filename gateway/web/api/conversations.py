"""`/inbox/v2/conversations`: create (or find) one, get one, list them by latest activity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from gateway.clock import aware
from gateway.domain.errors import Refused, conversation_not_found
from gateway.domain.participants import (
    CONTACT,
    VISITOR,
    ensure_conversation,
    resolve_contact,
    resolve_conversation,
)
from gateway.domain.records import conversation_wire, conversations_wire
from gateway.state import GATEWAY, Gateway
from gateway.store.models import ConversationRow, IdentityRow
from gateway.web.api import paging
from gateway.web.api.bodies import read_body
from gateway.web.api.schemas import CreateConversationRequest


async def create_conversation(request: web.Request) -> web.Response:
    """The participant's one conversation, created when they have none."""
    body = await read_body(request, CreateConversationRequest)
    gw = request.config_dict[GATEWAY]
    kind, participant_id = body.participant_id.kind_and_id

    def create(session: Session) -> dict[str, Any]:
        _check_participant(session, kind, participant_id)
        conversation, created = ensure_conversation(session, kind, participant_id)
        return {
            "conversation": conversation_wire(session, conversation, gw.directory, gw.business),
            "newConversation": created,
        }

    return web.json_response(await gw.db.write(create))


def _check_participant(session: Session, kind: str, participant_id: str) -> None:
    if kind == CONTACT and resolve_contact(session, participant_id) is None:
        raise Refused("CONTACT_NOT_FOUND", f"contact {participant_id!r} not found", 404)
    if kind == VISITOR:
        # Visitors exist once the web chat has seen them; their id is their chat identity.
        known = session.exec(
            select(IdentityRow.id).where(IdentityRow.visitor_id == participant_id)
        ).first()
        if known is None:
            raise Refused("PARTICIPANT_NOT_FOUND", f"visitor {participant_id!r} not found", 404)


async def get_conversation(request: web.Request) -> web.Response:
    """One conversation; an id merged away answers with the conversation it went into."""
    conversation_id = request.match_info["id"]
    gw = request.config_dict[GATEWAY]

    def read(session: Session) -> dict[str, Any]:
        conversation = resolve_conversation(session, conversation_id)
        if conversation is None:
            raise conversation_not_found(conversation_id)
        return {"conversation": conversation_wire(session, conversation, gw.directory, gw.business)}

    return web.json_response(await gw.db.read(read))


async def list_conversations(request: web.Request) -> web.Response:
    """Conversations, newest activity first, by keyset on (last activity, id)."""
    limit = paging.limit_of(request.query)
    raw = request.query.get("paging.cursor")
    cursor = paging.decode(raw, {}) if raw else None
    key = paging.activity_key(cursor) if cursor else None
    gw = request.config_dict[GATEWAY]
    return web.json_response(await gw.db.read(lambda s: _page(s, gw, cursor, key, limit)))


def _page(
    session: Session,
    gw: Gateway,
    cursor: paging.Cursor | None,
    key: tuple[datetime, str] | None,
    limit: int,
) -> dict[str, Any]:
    live, activity, ident = (
        col(ConversationRow.merged_into),
        col(ConversationRow.last_activity_at),
        col(ConversationRow.id),
    )
    backward = cursor is not None and cursor.direction == paging.BACKWARD
    query = select(ConversationRow).where(live.is_(None))
    if key is not None:
        # One row-value comparison, so that both databases seek to the key in the index.
        position = tuple_(activity, ident)
        query = query.where(position > key if backward else position < key)
    # `merged_into` is NULL on every row listed, so it changes nothing in the order, but
    # leading with it lets PostgreSQL as well as SQLite read the page in the order of
    # ix_conversations_live_activity instead of sorting every live conversation.
    if backward:
        query = query.order_by(live.asc(), activity.asc(), ident.asc())
    else:
        query = query.order_by(live.desc(), activity.desc(), ident.desc())
    rows = list(session.exec(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    # Coming from a cursor, the page it came from lies on the other side.
    more_after = more if not backward else key is not None
    more_before = more if backward else key is not None
    next_cursor = prev_cursor = None
    if rows and more_after:
        next_cursor = paging.Cursor(paging.FORWARD, _key_of(rows[-1]), {})
    if rows and more_before:
        prev_cursor = paging.Cursor(paging.BACKWARD, _key_of(rows[0]), {})
    return {
        "conversations": conversations_wire(session, rows, gw.directory, gw.business),
        "pagingMetadata": paging.metadata(len(rows), next_cursor, prev_cursor),
    }


def _key_of(row: ConversationRow) -> list[Any]:
    return [aware(row.last_activity_at).isoformat(), row.id]
