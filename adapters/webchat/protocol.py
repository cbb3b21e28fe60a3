"""The web chat WebSocket frames (SPEC section 7), parsed into typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from channels import MAX_SEQUENCE, MessageContent, holds_unstorable, unstorable

MAX_FRAME_CHARS = 512 * 1024
MAX_ID_CHARS = 128

#: WebSocket close codes (application range) the widget understands
CLOSE_INVALID_TOKEN = 4401
CLOSE_ORIGIN_NOT_ALLOWED = 4403
CLOSE_TOO_MANY_SOCKETS = 4429


class BadFrame(Exception):
    """A frame the gateway cannot act on; the visitor gets an error frame, the socket stays."""

    def __init__(
        self, message: str, code: str = "BAD_FRAME", client_message_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.client_message_id = client_message_id


@dataclass(frozen=True)
class SendMessage:
    client_message_id: str
    content: MessageContent


@dataclass(frozen=True)
class Interact:
    message_id: str
    interaction_id: str


@dataclass(frozen=True)
class Read:
    sequence: int


@dataclass(frozen=True)
class Sync:
    after_sequence: int


Frame = SendMessage | Interact | Read | Sync


def error_frame(code: str, message: str, client_message_id: str | None = None) -> dict[str, Any]:
    """The frame telling the visitor what went wrong (with the message it concerns, if any)."""
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_message_id is not None:
        frame["clientMessageId"] = client_message_id
    return frame


def _text(data: dict[str, Any], key: str, limit: int = MAX_ID_CHARS) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadFrame(f"{key} must be a non-empty string")
    if len(value) > limit:
        raise BadFrame(f"{key} must be at most {limit} characters")
    # the ids are stored (a message's provider id) or looked up: refused here like content
    if unstorable(value):
        raise BadFrame(f"{key} must not hold NUL characters or lone surrogates")
    return value


def _sequence(data: dict[str, Any], key: str) -> int:
    # SPEC sends sequences as strings of integers; plain JSON integers mean the same.
    value = data.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQUENCE:
        return value
    raise BadFrame(f'{key} must be a sequence number such as "12"')


def _content(data: dict[str, Any], client_message_id: str) -> MessageContent:
    raw = data.get("content")
    if not isinstance(raw, dict):
        raise BadFrame("content must be an object", client_message_id=client_message_id)
    try:
        content = MessageContent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        detail = f"content.{where}: {first['msg']}" if where else f"content: {first['msg']}"
        raise BadFrame(detail, client_message_id=client_message_id) from None
    if holds_unstorable(raw):
        raise BadFrame(
            "text with NUL characters or lone surrogates is not accepted",
            client_message_id=client_message_id,
        )
    if content.system is not None:
        raise BadFrame(
            "system notices are written by the gateway, not by visitors",
            code="CONTENT_NOT_ALLOWED",
            client_message_id=client_message_id,
        )
    return content


def parse_frame(text: str) -> Frame:
    """The frame in a text message from the visitor; raises BadFrame."""
    if len(text) > MAX_FRAME_CHARS:
        raise BadFrame(f"frames are at most {MAX_FRAME_CHARS} characters")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadFrame("frames are JSON objects") from None
    if not isinstance(data, dict):
        raise BadFrame("frames are JSON objects")
    kind = data.get("type")
    if kind == "message":
        client_message_id = _text(data, "clientMessageId")
        return SendMessage(client_message_id, _content(data, client_message_id))
    if kind == "interact":
        return Interact(_text(data, "messageId"), _text(data, "interactionId", 1000))
    if kind == "read":
        return Read(_sequence(data, "sequence"))
    if kind == "sync":
        return Sync(_sequence(data, "afterSequence"))
    raise BadFrame('type must be one of "message", "interact", "read", "sync"')
