"""Provider webhooks made and signed before a load starts, as wrk will replay them.

Each message's text ends with its reference in brackets (`… [m123]`), so that what the API
lists can be matched with what was acknowledged, whatever ids the gateway gave it.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from adapters.messenger.fake import (
    delivery_event,
    message_event,
    page_body,
    quick_reply_event,
    read_event,
    signed_body,
)
from adapters.twilio.signature import sign
from bench.fakes import psid
from bench.harness import ACCOUNT_SID, APP_SECRET, BUSINESS_NUMBER, PAGE_ID, TWILIO_AUTH_TOKEN
from bench.wrk import Request

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REFERENCE = re.compile(r"\[([A-Za-z0-9_-]+)\]$")


def phone(n: int) -> str:
    """The phone number of bench customer `n`."""
    return f"+1555{n:07d}"


def reference_of(text: str) -> str | None:
    """The reference a bench message's text ends with."""
    found = REFERENCE.search(text)
    return found.group(1) if found else None


def sid(run: int, n: int) -> str:
    """A Twilio-shaped message SID (two letters, 32 hex digits), distinct per run and n."""
    return f"SM{run % 16**8:08x}{n:024x}"


# -- Twilio ----------------------------------------------------------------------------------


def twilio_inbound(public_url: str, reference: str, sender: str, message_sid: str) -> Request:
    """An inbound SMS as Twilio posts it (the fields of a real capture), signed."""
    path = "/channels/sms/inbound"
    fields = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": message_sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": f"Hello, is my order on its way? [{reference}]",
        "FromCountry": "US",
        "To": BUSINESS_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    signature = sign(TWILIO_AUTH_TOKEN, public_url + path, fields)
    return Request(reference, path, FORM, urlencode(fields), "X-Twilio-Signature", signature)


def twilio_inbound_load(
    public_url: str,
    run: int,
    first: int,
    count: int,
    customers: int,
    senders: dict[str, str],
    prefix: str = "m",
) -> Iterator[Request]:
    """`count` inbound SMS numbered from `first`, from customers picked at random; each
    message's sender is noted in `senders` (reference -> phone number)."""
    pick = random.Random(f"{run}-{first}")
    for n in range(first, first + count):
        reference, sender = f"{prefix}{n}", phone(pick.randrange(customers))
        senders[reference] = sender
        yield twilio_inbound(public_url, reference, sender, sid(run, n))


@dataclass(frozen=True)
class StatusCallback:
    reference: str
    message_sid: str
    status: str


def twilio_status(public_url: str, callback: StatusCallback, to: str) -> Request:
    """A status callback for a message we sent, as Twilio posts it, signed."""
    path = "/channels/sms/status"
    fields = {
        "SmsSid": callback.message_sid,
        "SmsStatus": callback.status,
        "MessageStatus": callback.status,
        "To": to,
        "MessageSid": callback.message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": BUSINESS_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if callback.status == "delivered":
        fields["RawDlrDoneDate"] = "2611270300"
    signature = sign(TWILIO_AUTH_TOKEN, public_url + path, fields)
    return Request(
        callback.reference, path, FORM, urlencode(fields), "X-Twilio-Signature", signature
    )


def status_storm(
    sids: Sequence[str], statuses: Sequence[str], window: int, seed: int
) -> list[StatusCallback]:
    """Every status for every message, shuffled within windows of `window` callbacks: the
    callbacks of a message come close together, in no particular order (as Twilio's do)."""
    callbacks = [
        StatusCallback(f"c{i * len(statuses) + k}", message_sid, status)
        for i, message_sid in enumerate(sids)
        for k, status in enumerate(statuses)
    ]
    shuffle = random.Random(seed)
    for start in range(0, len(callbacks), window):
        chunk = callbacks[start : start + window]
        shuffle.shuffle(chunk)
        callbacks[start : start + window] = chunk
    return callbacks


# -- Messenger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessengerPost:
    request: Request
    #: the references of the messages it carries
    references: list[str]


def messenger_post(
    run: int, post: str, messages: Sequence[tuple[str, str]], mixed: bool = False
) -> MessengerPost:
    """One signed Messenger webhook: an entry of one text message per (reference, PSID).

    `mixed`, as Meta batches entries of every kind: the last message is a tap on a quick
    reply, and the first sender's read watermark and the second's delivery watermark come
    between the messages."""
    events = [
        message_event(
            sender,
            f"Hi, a question about my order [{reference}]",
            mid=f"m_{run}_{reference}",
            page_id=PAGE_ID,
        )
        for reference, sender in messages
    ]
    if mixed:
        reference, sender = messages[-1]
        events[-1] = quick_reply_event(
            sender, f"Yes, my order [{reference}]", "YES", f"m_{run}_{reference}", page_id=PAGE_ID
        )
        stamp = int(time.time() * 1000)
        events.insert(1, read_event(messages[0][1], stamp, page_id=PAGE_ID))
        events.insert(3, delivery_event(messages[1][1], None, stamp, page_id=PAGE_ID))
    raw, signature = signed_body(APP_SECRET, page_body(events, page_id=PAGE_ID))
    request = Request(
        post, "/channels/fb/webhook", JSON, raw.decode(), "X-Hub-Signature-256", signature
    )
    return MessengerPost(request, [reference for reference, _ in messages])


def messenger_posts(
    run: int,
    first_post: int,
    posts: int,
    per_post: int,
    customers: int,
    senders: dict[str, str],
    prefix: str = "f",
    mixed: bool = False,
) -> Iterator[MessengerPost]:
    """Signed Messenger webhooks, each with `per_post` entries from customers picked at
    random; each message's sender is noted in `senders` (reference -> PSID)."""
    pick = random.Random(f"{run}-{first_post}")
    for post in range(first_post, first_post + posts):
        messages = []
        for k in range(per_post):
            reference = f"{prefix}{post * per_post + k}"
            senders[reference] = psid(pick.randrange(customers))
            messages.append((reference, senders[reference]))
        yield messenger_post(run, f"{prefix}p{post}", messages, mixed)
