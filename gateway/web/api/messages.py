"""`/inbox/v2/messages`: send one, list a conversation's, get one."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from channels import Direction, Visibility, unstorable
from gateway.clock import now
from gateway.domain.directory import Directory
from gateway.domain.errors import Refused, conversation_not_found
from gateway.domain.participants import resolve_conversation
from gateway.domain.records import message_wire
from gateway.outbound.rules import SendRequest
from gateway.outbound.send_many import STORE_SENDS, SendItem, queued_by
from gateway.outbound.sent import hand_over
from gateway.state import GATEWAY
from gateway.store.models import DeliveryRow, MessageRow
from gateway.web.api import paging
from gateway.web.api.auth import token_name
from gateway.web.api.bodies import read_body
from gateway.web.api.errors import Invalid, invalid
from gateway.web.api.schemas import SendMessageRequest

MAX_KEY_LENGTH = 255
ORDERS = ("DESC", "ASC")


async def send(request: web.Request) -> web.Response:
    """sendMessage: stored and answered at once; delivered in the background."""
    body = await read_body(request, SendMessageRequest)
    if body.message.content.system is not None:
        raise invalid("message.content.system", "system messages are written by the gateway only")
    key = request.headers.get("Idempotency-Key")
    # header bytes that are not UTF-8 arrive as lone surrogates, which no database stores
    if key is not None and (not 1 <= len(key) <= MAX_KEY_LENGTH or unstorable(key)):
        raise invalid(
            "Idempotency-Key", f"from 1 to {MAX_KEY_LENGTH} characters of UTF-8 without NUL"
        )
    message = body.message
    send_request = SendRequest(
        conversation_id=body.conversation_id,
        content=message.content,
        direction=Direction(message.direction or Direction.BUSINESS_TO_PARTICIPANT),
        visibility=Visibility(message.visibility or Visibility.BUSINESS_AND_PARTICIPANT),
        target_channels=list(message.target_channels or []),
        target_channel_ids=list(message.target_channel_ids or []),
        badges=list(message.badges or []),
    )
    name = token_name(request)
    gw = request.config_dict[GATEWAY]

    item = SendItem(
        send_request,
        sender=("appId", name),
        now=now(),
        directory=gw.directory,
        token_name=name,
        idempotency_key=key,
    )
    answer = await gw.db.write_batched(STORE_SENDS, item)
    queued = queued_by(answer)
    if queued is not None:
        hand_over(gw, queued)
    return web.json_response(answer)


async def get_message(request: web.Request) -> web.Response:
    message_id = request.match_info["id"]
    gw = request.config_dict[GATEWAY]

    def read(session: Session) -> dict[str, Any]:
        row = session.get(MessageRow, message_id)
        if row is None:
            raise Refused("MESSAGE_NOT_FOUND", f"message {message_id!r} not found", 404)
        return {"message": message_wire(row, session.get(DeliveryRow, row.id), gw.directory)}

    return web.json_response(await gw.db.read(read))


async def list_messages(request: web.Request) -> web.Response:
    """A conversation's messages by sequence: keyset paging on (conversation, sequence)."""
    query = _list_query(request.query)
    limit = paging.limit_of(request.query)
    raw = request.query.get("paging.cursor")
    cursor = paging.decode(raw, query) if raw else None
    after = paging.sequence_key(cursor) if cursor else None
    gw = request.config_dict[GATEWAY]

    def read(session: Session) -> dict[str, Any]:
        conversation = resolve_conversation(session, query["conversationId"])
        if conversation is None:
            raise conversation_not_found(query["conversationId"])
        return _page(session, gw.directory, conversation.id, query, cursor, after, limit)

    return web.json_response(await gw.db.read(read))


def _list_query(params: Any) -> dict[str, str]:
    """The parameters that every page of one listing repeats, checked."""
    problems = []
    conversation_id = params.get("conversationId", "")
    if not conversation_id:
        problems.append(("conversationId", "required"))
    visibility = params.get("visibility", "")
    if visibility not in (v.value for v in Visibility):
        problems.append(("visibility", "required: BUSINESS_AND_PARTICIPANT or BUSINESS"))
    order = params.get("sorting.order", "DESC")
    if order not in ORDERS:
        problems.append(("sorting.order", "DESC or ASC"))
    if problems:
        raise Invalid(problems)
    return {"conversationId": conversation_id, "visibility": visibility, "sortingOrder": order}


def _page(
    session: Session,
    directory: Directory,
    conversation_id: str,
    query: dict[str, str],
    cursor: paging.Cursor | None,
    key: int | None,
    limit: int,
) -> dict[str, Any]:
    sequence = col(MessageRow.sequence)
    ascending = query["sortingOrder"] == "ASC"
    backward = cursor is not None and cursor.direction == paging.BACKWARD
    # Walking backward reads the other way round from the key, then flips the page.
    read_ascending = ascending != backward
    base = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
    if query["visibility"] == Visibility.BUSINESS_AND_PARTICIPANT.value:
        base = base.where(MessageRow.visibility == Visibility.BUSINESS_AND_PARTICIPANT.value)
    page_query = base
    if key is not None:
        page_query = page_query.where(sequence > key if read_ascending else sequence < key)
    page_query = page_query.order_by(sequence.asc() if read_ascending else sequence.desc())
    rows = list(session.exec(page_query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        first, last = rows[0].sequence, rows[-1].sequence
        if backward:
            more_before, more_after = more, _beyond(session, base, last, ascending, after=True)
        else:
            more_after = more
            more_before = key is not None and _beyond(session, base, first, ascending, after=False)
        if more_after:
            next_cursor = paging.Cursor(paging.FORWARD, [last], query)
        if more_before:
            prev_cursor = paging.Cursor(paging.BACKWARD, [first], query)
    deliveries = _deliveries(session, [r.id for r in rows])
    return {
        "messages": [message_wire(r, deliveries.get(r.id), directory) for r in rows],
        "pagingMetadata": paging.metadata(len(rows), next_cursor, prev_cursor),
    }


def _beyond(
    session: Session,
    base: SelectOfScalar[MessageRow],
    boundary: int,
    ascending: bool,
    *,
    after: bool,
) -> bool:
    """Whether any message lies after (or before) `boundary` in the listing's order."""
    sequence = col(MessageRow.sequence)
    # Ordered towards the nearest message, so the planner walks the (conversation, sequence)
    # index from the boundary: unordered, PostgreSQL may scan the table for any match.
    if ascending == after:
        nearest = base.where(sequence > boundary).order_by(sequence.asc())
    else:
        nearest = base.where(sequence < boundary).order_by(sequence.desc())
    return session.exec(nearest.limit(1)).first() is not None


def _deliveries(session: Session, message_ids: list[str]) -> dict[str, DeliveryRow]:
    if not message_ids:
        return {}
    rows = session.exec(select(DeliveryRow).where(col(DeliveryRow.message_id).in_(message_ids)))
    return {row.message_id: row for row in rows}
