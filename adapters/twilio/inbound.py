"""Twilio's inbound-message webhook, turned into events.

A message always becomes an `InboundMessage` keyed by `MessageSid`, so Twilio's retries are
stored once. An opt-out or opt-in keyword alone (STOP, START, ...) is stored like any other
message and also raises an `OptChange`: Twilio has already blocked (or unblocked) the pair
and answered the person itself, so the inbox only needs to know.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime

from channels import (
    MAX_ITEM_TEXT,
    Basic,
    BasicItem,
    File,
    Image,
    InboundEvent,
    InboundMessage,
    MessageContent,
    OptChange,
    Participant,
    format_phone,
    is_media_url,
)

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})

#: stored for a message with neither text nor media, which Twilio does deliver
EMPTY_TEXT = "(empty message)"
#: a basic content holds at most this many items
MAX_ITEMS = 20


def participant_of(number: str) -> Participant:
    """The person behind a phone number, named by the number until the inbox knows better."""
    return Participant(address=number, display_name=format_phone(number))


def content_of(fields: Mapping[str, str]) -> MessageContent:
    """`Body` as a text item and each `MediaUrl<N>` as an image or file item."""
    items: list[BasicItem] = []
    body = fields.get("Body", "")
    if body.strip():
        items.extend(
            BasicItem(text=body[i : i + MAX_ITEM_TEXT]) for i in range(0, len(body), MAX_ITEM_TEXT)
        )
    for n in _media_numbers(fields):
        url = fields.get(f"{MEDIA_URL}{n}", "").strip()
        if url:
            items.append(_media_item(url, fields.get(f"MediaContentType{n}", "").strip()))
    if not items:
        items.append(BasicItem(text=EMPTY_TEXT))
    return MessageContent(basic=Basic(items=items[:MAX_ITEMS]))


#: the fields naming an MMS's media: MediaUrl0, MediaUrl1, …
MEDIA_URL = "MediaUrl"


def _media_numbers(fields: Mapping[str, str]) -> list[int]:
    # NumMedia is the documented count; the MediaUrl<N> fields themselves are what counts,
    # whatever it says and wherever their numbering starts
    numbers = [key.removeprefix(MEDIA_URL) for key in fields if key.startswith(MEDIA_URL)]
    return sorted(int(n) for n in numbers if n.isascii() and n.isdigit() and len(n) < 4)[:MAX_ITEMS]


#: the longest media type a file item keeps (`File.mime_type`)
MAX_MIME = 255


def _media_item(url: str, content_type: str) -> BasicItem:
    if not is_media_url(url):
        # Twilio's media URLs are https; anything else is kept, as text rather than a link
        return BasicItem(text=url[:MAX_ITEM_TEXT])
    mime = content_type.split(";")[0].strip().lower() or None
    if mime is not None and len(mime) > MAX_MIME:
        mime = None  # no media type is this long: the item is kept, its type unknown
    if mime is not None and mime.startswith("image/"):
        return BasicItem(image=Image(url=url))
    filename = None
    if mime is not None:
        extension = mimetypes.guess_extension(mime) or ""
        filename = (url.rstrip("/").rsplit("/", 1)[-1] + extension)[:255] or None
    return BasicItem(file=File(url=url, filename=filename, mime_type=mime))


def keyword_of(body: str) -> tuple[str, bool] | None:
    """The opt-out (True) or opt-in (False) keyword a message consists of, if any."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return word, True
    if word in OPT_IN_WORDS:
        return word, False
    return None


def inbound_events(fields: Mapping[str, str], now: datetime | None = None) -> list[InboundEvent]:
    """The events of one verified inbound webhook that carries `From` and `MessageSid`."""
    when = now or datetime.now(UTC)
    participant = participant_of(fields["From"].strip())
    events: list[InboundEvent] = [
        InboundMessage(
            provider_message_id=fields["MessageSid"].strip(),
            participant=participant,
            content=content_of(fields),
            occurred_at=when,
        )
    ]
    keyword = keyword_of(fields.get("Body", ""))
    if keyword is not None:
        word, opted_out = keyword
        events.append(
            OptChange(participant=participant, opted_out=opted_out, keyword=word, occurred_at=when)
        )
    return events
