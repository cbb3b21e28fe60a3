"""The JSON endpoints the inbox page calls (`/inbox/api/…`), each for a logged-in agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from channels import MAX_SEQUENCE, Direction, MessageContent, Visibility
from gateway.clock import now
from gateway.domain.errors import Refused
from gateway.domain.records import message_wire
from gateway.events.feed import QueuedSend
from gateway.outbound.rules import AGENT, SendRequest, send_message
from gateway.outbound.sent import hand_over
from gateway.state import GATEWAY
from gateway.web.inbox.auth import agent_reading_url, json_error
from gateway.web.inbox.queries import list_conversations, thread
from gateway.web.numbers import ascii_int
from gateway.web.request_text import read_json_object


def error(status: int, code: str, message: str) -> web.Response:
    body = {"message": message, "details": {"applicationError": {"code": code}}}
    return web.json_response(body, status=status)


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as an integer; 400 when it is not ASCII digits in range."""
    raw = query.get(name)
    if raw is None:
        return default
    value = ascii_int(raw, low, high)
    if value is None:
        raise json_error(400, "INVALID_REQUEST", f"{name} is an integer from {low} to {high}")
    return value


async def conversations(request: web.Request) -> web.Response:
    """`GET /inbox/api/conversations?q=&before=`: newest first, with previews and unread counts."""
    await agent_reading_url(request)
    gw = request.app[GATEWAY]
    query = request.query.get("q", "")[:200]
    limit = _int(request.query, "limit", 50, 1, 200)
    before = request.query.get("before") or None
    data = await gw.db.read(
        lambda s: list_conversations(
            s, gw.directory, gw.business, query=query, limit=limit, before=before
        )
    )
    return web.json_response(data)


async def conversation(request: web.Request) -> web.Response:
    """`GET /inbox/api/conversations/{id}?before=<sequence>`: the thread, all visibilities."""
    await agent_reading_url(request)
    gw = request.app[GATEWAY]
    conversation_id = request.match_info["id"]
    before_seq = (
        _int(request.query, "before", 0, 1, MAX_SEQUENCE) if request.query.get("before") else None
    )
    data = await gw.db.read(
        lambda s: thread(s, conversation_id, gw.directory, gw.business, before=before_seq)
    )
    if data is None:
        return error(404, "CONVERSATION_NOT_FOUND", "conversation not found")
    return web.json_response(data)


#: what the page's reply may say of its message
REPLY_FIELDS = frozenset({"content", "visibility", "targetChannelIds"})


def _send_request(conversation_id: str, body: dict[str, Any]) -> SendRequest:
    """The page's reply as a sendMessage request; raises Refused (400) when malformed."""
    message = body.get("message")
    if not isinstance(message, dict):
        raise Refused("INVALID_REQUEST", "message is required", 400)
    # unknown fields are refused, as the REST API refuses them: a misspelt one is not ignored
    unknown = sorted(set(body) - {"message"}) + [
        f"message.{name}" for name in sorted(set(message) - REPLY_FIELDS)
    ]
    if unknown:
        raise Refused("INVALID_REQUEST", f"unknown field {unknown[0]}", 400)
    try:
        # strict, as the REST API reads the same content
        content = MessageContent.model_validate(message.get("content"), strict=True)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise Refused(
            "INVALID_REQUEST", f"message.content.{where}: {problem['msg']}", 400
        ) from None
    if content.system is not None:
        raise Refused("INVALID_REQUEST", "system messages are written by the gateway", 400)
    try:
        visibility = Visibility(message.get("visibility", Visibility.BUSINESS_AND_PARTICIPANT))
    except ValueError:
        raise Refused("INVALID_REQUEST", "unknown visibility", 400) from None
    targets = message.get("targetChannelIds") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise Refused("INVALID_REQUEST", "targetChannelIds must be a list of ids", 400)
    return SendRequest(
        conversation_id=conversation_id,
        content=content,
        direction=Direction.BUSINESS_TO_PARTICIPANT,
        visibility=visibility,
        target_channel_ids=targets[:1],
    )


async def reply(request: web.Request) -> web.Response:
    """`POST /inbox/api/conversations/{id}/messages`: an agent's reply or internal note."""
    agent = await agent_reading_url(request)
    gw = request.app[GATEWAY]
    try:
        # the same reading as the REST API's: a JSON object, no text a database cannot keep
        body = await read_json_object(request)
        send = _send_request(request.match_info["id"], body)
        message, delivery = await gw.db.write(
            lambda s: send_message(s, gw.directory, send, sender=(AGENT, agent.username), now=now())
        )
    except Refused as refused:
        return error(refused.status, refused.code, refused.text)
    if delivery is not None:
        hand_over(gw, QueuedSend(message.id, delivery.channel_id))
    return web.json_response({"message": message_wire(message, delivery, gw.directory)})
