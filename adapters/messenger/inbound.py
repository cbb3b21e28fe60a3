"""Turns a Messenger webhook body into the gateway's inbound events.

Handled per `entry[].messaging[]` event: messages (text, attachments, quick replies),
postbacks, delivery and read watermarks, and echoes. Deliberately ignored, with a debug log:

- `standby` events: another app (a Page inbox tool, a bot) owns the thread under Meta's
  handover protocol; that app answers, and Meta also sends the messages to the owner.
- `reaction` events: the contract has no event for a reaction, and storing each emoji as a
  message would bury the conversation (and an "unreact" could not take it back).
- `optin`, `referral`, `account_linking`, handover and other events the inbox cannot show.
- Entries of another Page: one Meta app may serve several Pages, but this channel speaks for
  `page_id` only and could not answer the others with its token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from adapters.messenger.outbound import is_our_echo
from channels import (
    MAX_ITEM_TEXT,
    Basic,
    BasicItem,
    DeliveryStatus,
    Direction,
    File,
    Image,
    InboundEvent,
    InboundMessage,
    MessageContent,
    Participant,
    StatusUpdate,
    is_media_url,
    unstorable,
)

log = logging.getLogger(__name__)

MAX_ITEMS = 20
#: what Messenger's CDN serves when the URL itself does not say
_DEFAULT_MIME = {"video": "video/mp4", "audio": "audio/mp4"}


def parse_payload(
    payload: Mapping[str, Any], *, page_id: str, app_id: str = ""
) -> list[InboundEvent]:
    """Every event of a `{"object": "page", "entry": [...]}` body, in order."""
    events: list[InboundEvent] = []
    for entry in _list(payload.get("entry")):
        entry = _dict(entry)
        entry_page = _id(entry.get("id"))
        if entry_page is not None and entry_page != page_id:
            log.warning(
                "ignoring a webhook entry for page %s (this channel is page %s)",
                entry_page,
                page_id,
            )
            continue
        if entry.get("standby"):
            log.debug(
                "ignoring %d standby event(s): another app owns the thread",
                len(_list(entry.get("standby"))),
            )
        for event in _list(entry.get("messaging")):
            events.extend(parse_event(_dict(event), app_id=app_id))
    return events


def parse_event(event: Mapping[str, Any], *, app_id: str = "") -> list[InboundEvent]:
    """The inbound events of one `messaging[]` event (none for the kinds we ignore)."""
    sender = _id(_dict(event.get("sender")).get("id"))
    recipient = _id(_dict(event.get("recipient")).get("id"))
    when = _when(_time(event.get("timestamp")), datetime.now(UTC))
    if "message" in event:
        message = _dict(event.get("message"))
        if message.get("is_echo"):
            return _echo(event, message, recipient, when, app_id)
        if sender is None:
            return _skip("a message without sender.id")
        return [_message(event, message, sender, when, Direction.PARTICIPANT_TO_BUSINESS)]
    if "postback" in event:
        if sender is None:
            return _skip("a postback without sender.id")
        return [_postback(event, sender, when)]
    if "delivery" in event:
        return _delivery(_dict(event.get("delivery")), sender)
    if "read" in event:
        return _read(_dict(event.get("read")), sender)
    if "reaction" in event:
        log.debug("ignoring a reaction: the inbox has no place for reactions")
        return []
    kinds = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
    log.debug("ignoring a messaging event of kind %s", ",".join(kinds) or "unknown")
    return []


def _echo(
    event: Mapping[str, Any],
    message: Mapping[str, Any],
    recipient: str | None,
    when: datetime,
    app_id: str,
) -> list[InboundEvent]:
    # In an echo the Page is the sender and the person is the recipient.
    echo_app = _id(message.get("app_id"))
    if (app_id and echo_app == app_id) or is_our_echo(message.get("metadata")):
        return []  # our own send, already stored when it was sent
    if recipient is None:
        return _skip("an echo without recipient.id")
    return [_message(event, message, recipient, when, Direction.BUSINESS_TO_PARTICIPANT, echo_app)]


def _message(
    event: Mapping[str, Any],
    message: Mapping[str, Any],
    psid: str,
    when: datetime,
    direction: Direction,
    echo_app_id: str | None = None,
) -> InboundMessage:
    items = [BasicItem(text=chunk) for chunk in _chunks(_str(message.get("text")))]
    items.extend(_attachment(_dict(a)) for a in _list(message.get("attachments")))
    if not items:
        items = [BasicItem(text="(a message the inbox cannot show)")]
    quick_reply = _dict(message.get("quick_reply"))
    return InboundMessage(
        provider_message_id=_str(message.get("mid")) or derived_id("message", event),
        participant=Participant(address=psid),
        content=MessageContent(basic=Basic(items=_fit(items))),
        occurred_at=when,
        interaction_id=_str(quick_reply.get("payload")),
        direction=direction,
        echo_app_id=echo_app_id,
    )


def _postback(event: Mapping[str, Any], psid: str, when: datetime) -> InboundMessage:
    postback = _dict(event.get("postback"))
    payload = _str(postback.get("payload"))
    title = _str(postback.get("title")) or payload or "(button)"
    return InboundMessage(
        provider_message_id=_str(postback.get("mid")) or derived_id("postback", event),
        participant=Participant(address=psid),
        content=MessageContent.of_text(title[:MAX_ITEM_TEXT]),
        occurred_at=when,
        interaction_id=payload,
    )


def _delivery(delivery: Mapping[str, Any], psid: str | None) -> list[InboundEvent]:
    events: list[InboundEvent] = [
        StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id=mid)
        for mid in (_str(m) for m in _list(delivery.get("mids")))
        if mid
    ]
    watermark = _time(delivery.get("watermark"))
    if watermark is not None and psid is not None:
        events.append(
            StatusUpdate(
                status=DeliveryStatus.DELIVERED, participant_address=psid, watermark=watermark
            )
        )
    return events


def _read(read: Mapping[str, Any], psid: str | None) -> list[InboundEvent]:
    watermark = _time(read.get("watermark"))
    if watermark is None or psid is None:
        return _skip("a read event without watermark or sender.id")
    return [StatusUpdate(status=DeliveryStatus.READ, participant_address=psid, watermark=watermark)]


def _attachment(attachment: Mapping[str, Any]) -> BasicItem:
    kind = _str(attachment.get("type")) or "attachment"
    payload = _dict(attachment.get("payload"))
    url = _str(payload.get("url")) or _str(attachment.get("url"))
    title = _str(attachment.get("title"))
    if url and _usable(url):
        if kind == "image":  # stickers arrive as images (payload.sticker_id) and show as such
            return BasicItem(image=Image(url=url))
        if kind in ("video", "audio", "file"):
            name = _filename(url)
            return BasicItem(file=File(url=url, filename=name, mime_type=_mime(kind, name)))
    if kind == "location":
        point = _dict(payload.get("coordinates"))
        lat, lng = point.get("lat"), point.get("long")
        if lat is not None and lng is not None:
            return BasicItem(text=f"{title or 'Location'}: {lat}, {lng}"[:MAX_ITEM_TEXT])
    if kind == "template":
        return BasicItem(text=_template_text(payload))
    # fallback (shared links) and anything newer: show what there is as a text link
    text = " ".join(x for x in (title, url) if x) or f"[{kind}]"
    return BasicItem(text=text[:MAX_ITEM_TEXT])


def _template_text(payload: Mapping[str, Any]) -> str:
    lines = [_str(payload.get("text"))]
    for element in _list(payload.get("elements")):
        element = _dict(element)
        lines.extend([_str(element.get("title")), _str(element.get("subtitle"))])
    text = "\n".join(line for line in lines if line) or "[template]"
    return text[:MAX_ITEM_TEXT]


def _fit(items: list[BasicItem]) -> list[BasicItem]:
    """At most MAX_ITEMS items: the overflow becomes one text item of links."""
    if len(items) <= MAX_ITEMS:
        return items
    rest = items[MAX_ITEMS - 1 :]
    lines = [i.text or (i.image.url if i.image else i.file.url if i.file else "") for i in rest]
    return [*items[: MAX_ITEMS - 1], BasicItem(text="\n".join(lines)[:MAX_ITEM_TEXT])]


def derived_id(kind: str, event: Mapping[str, Any]) -> str:
    """A stable id for an event Meta sent without a `mid`, so that its retries dedupe."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def _chunks(text: str | None) -> list[str]:
    if not text:
        return []
    return [text[i : i + MAX_ITEM_TEXT] for i in range(0, len(text), MAX_ITEM_TEXT)]


def _mime(kind: str, filename: str | None) -> str | None:
    guess = mimetypes.guess_type(filename)[0] if filename else None
    if guess and kind in _DEFAULT_MIME and not guess.startswith(kind + "/"):
        # Voice clips come as .mp4, which guesses as video: keep the kind Meta told us.
        guess = f"{kind}/{guess.split('/', 1)[1]}"
    return guess or _DEFAULT_MIME.get(kind)


def _filename(url: str) -> str | None:
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    # `%00` or a lone byte in the URL's path is no file's name, and would refuse the batch
    return last[-255:] if "." in last and not unstorable(last) else None


def _usable(url: str) -> bool:
    return is_media_url(url)


#: how far ahead of this machine's clock an event's time may be, for clocks that differ
AHEAD = timedelta(minutes=5)


def _when(stated: datetime | None, received: datetime) -> datetime:
    """When the event happened: its timestamp, unless missing or in the future. A time ahead
    would pin the conversation atop the inbox and keep its 24 h window open. (A time past is
    kept: Meta delivers an unanswered webhook again for hours.)"""
    if stated is None or stated > received + AHEAD:
        return received
    return stated


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _id(value: Any) -> str | None:
    # Meta sends ids as strings, except app_id in echoes, which is a number.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _str(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # Lone surrogates and NUL characters cannot be stored; nothing a person typed is either.
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned or None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _skip(what: str) -> list[InboundEvent]:
    log.warning("ignoring %s", what)
    return []
