"""Builds Send API bodies from outbound parts (pure: no I/O)."""

from __future__ import annotations

from typing import Any

from channels import (
    CardPart,
    Choice,
    LinkButton,
    MediaPart,
    NativePart,
    OutboundPart,
    Part,
    QuickRepliesPart,
    SendError,
    TextPart,
)

# Send API limits; render() already fits parts to them, these only guard against a stray part.
TEXT_LIMIT = 2000
CARD_TEXT_LIMIT = 80
CARD_BUTTONS_MAX = 3
BUTTON_TITLE_LIMIT = 20
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_LIMIT = 20
PAYLOAD_LIMIT = 1000
#: starts the `metadata` of every message we send; Meta returns it in the echo, which tells
#: our own sends apart even when the echo arrives before the Send API's answer
ECHO_MARKER = "inbox-gateway:"


def echo_metadata(part: OutboundPart) -> str:
    """The `metadata` of a send: our marker and the part's message and index."""
    return f"{ECHO_MARKER}{part.message_id}:{part.index}"


def is_our_echo(metadata: object) -> bool:
    """Whether an echo's `metadata` marks a message this gateway sent."""
    return isinstance(metadata, str) and metadata.startswith(ECHO_MARKER)


def messaging_type(part: OutboundPart) -> tuple[str, str | None]:
    """The `messaging_type` and `tag` for a send: the agent tag, a response, or an update."""
    if part.agent_window:
        return "MESSAGE_TAG", "HUMAN_AGENT"
    return ("RESPONSE" if part.is_response else "UPDATE"), None


def message_body(part: Part) -> dict[str, Any]:
    """The Send API `message` object for one part; raises a permanent SendError if unsendable."""
    if isinstance(part, TextPart):
        if part.media:
            raise SendError(
                message="Messenger cannot send media inside a text message",
                code="UNSUPPORTED_PART",
            )
        return {"text": _cut(part.text, TEXT_LIMIT)}
    if isinstance(part, MediaPart):
        return {
            "attachment": {
                "type": part.media.kind,
                "payload": {"url": part.media.url, "is_reusable": True},
            }
        }
    if isinstance(part, CardPart):
        return {"attachment": {"type": "template", "payload": _generic_template(part)}}
    if isinstance(part, QuickRepliesPart):
        return {
            "text": _cut(part.text, TEXT_LIMIT),
            "quick_replies": [
                {
                    "content_type": "text",
                    "title": _cut(choice.label, QUICK_REPLY_TITLE_LIMIT),
                    "payload": _cut(choice.interaction_id, PAYLOAD_LIMIT),
                }
                for choice in part.choices[:QUICK_REPLIES_MAX]
            ],
        }
    if isinstance(part, NativePart):
        raise SendError(
            message="Messenger cannot show canonical content as it is; render it first",
            code="UNSUPPORTED_PART",
        )
    raise SendError(message=f"unknown part {type(part).__name__}", code="UNSUPPORTED_PART")


def _generic_template(card: CardPart) -> dict[str, Any]:
    element: dict[str, Any] = {"title": _cut(card.title, CARD_TEXT_LIMIT) or " "}
    if card.subtitle:
        element["subtitle"] = _cut(card.subtitle, CARD_TEXT_LIMIT)
    if card.image_url:
        element["image_url"] = card.image_url
    if card.buttons:
        element["buttons"] = [_button(b) for b in card.buttons[:CARD_BUTTONS_MAX]]
    return {"template_type": "generic", "elements": [element]}


def _button(button: Choice | LinkButton) -> dict[str, str]:
    title = _cut(button.label, BUTTON_TITLE_LIMIT)
    if isinstance(button, LinkButton):
        return {"type": "web_url", "url": button.url, "title": title}
    return {
        "type": "postback",
        "title": title,
        "payload": _cut(button.interaction_id, PAYLOAD_LIMIT),
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
