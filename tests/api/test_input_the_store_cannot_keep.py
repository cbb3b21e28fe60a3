"""Input valid to a lenient reader but not to the store: a 400 naming it, nothing stored.

Python's JSON reader takes NaN, Infinity and integers of any size; aiohttp hands over header
bytes that are not UTF-8 as lone surrogates; Python's `$` matches before a final newline.
Each of these once reached the database (a 500, or a stored value that differed from the
answer); each is now refused where it comes in.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from gateway.store.models import ContactRow
from tests.api.conftest import TOKEN, Api
from tests.api.test_send_rules import assert_refused, counts, sms_conversation, text_body


async def _raw_send(api: Api, body: bytes, extra_header: bytes) -> tuple[int, dict[str, Any]]:
    """POST sendMessage with a header line written byte for byte (no client re-encodes it)."""
    url = api.client.make_url("/inbox/v2/messages")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        f"POST /inbox/v2/messages HTTP/1.1\r\nHost: {url.host}\r\nConnection: close\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    ).encode()
    writer.write(head + extra_header + b"\r\n\r\n" + body)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("key", [b"caf\xe9", b"\xff\xfe", b"\xed\xa0\x80"])
async def test_an_idempotency_key_that_is_not_utf8_is_a_400(api: Api, key: bytes) -> None:
    conversation_id = await sms_conversation(api)
    before = await counts(api)
    body = json.dumps(text_body(conversation_id)).encode()
    status, answer = await _raw_send(api, body, b"Idempotency-Key: " + key)
    assert status == 400, answer
    [violation] = answer["details"]["validationError"]["fieldViolations"]
    assert violation["field"] == "Idempotency-Key"
    assert await counts(api) == before


NUMBERS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "a number past a double": "1e400",
    "an integer past 64 bits": str(2**64),
    "a negative integer past 64 bits": str(-(2**63) - 1),
}


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_a_number_json_cannot_keep_is_a_400(api: Api, name: str) -> None:
    """Badges are the client's own JSON: what is stored must be what was sent."""
    conversation_id = await sms_conversation(api)
    before = await counts(api)
    body = json.dumps(text_body(conversation_id, badges=[{"n": "HERE"}]))
    body = body.replace('"HERE"', NUMBERS[name])
    status, answer = await api.post_raw("/inbox/v2/messages", body)
    assert status == 400, answer
    [violation] = answer["details"]["validationError"]["fieldViolations"]
    assert violation["field"] == "body"
    assert "number" in violation["description"] or "integer" in violation["description"]
    assert await counts(api) == before


async def test_the_largest_integers_json_columns_keep_are_stored_as_sent(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    badges = [{"low": -(2**63), "high": 2**64 - 1, "ratio": 0.5}]
    message = await api.send(conversation_id, "hi", badges=badges)
    assert message["badges"] == badges
    params = {"conversationId": conversation_id, "visibility": "BUSINESS"}
    listed = await api.call("GET", "/inbox/v2/messages", params=params)
    assert listed["messages"][0]["badges"] == badges


@pytest.mark.parametrize("width", [2**31, 1e300])
async def test_an_image_wider_than_any_image_format_is_a_400(api: Api, width: float) -> None:
    conversation_id = await sms_conversation(api)
    image = {"url": "https://shop.example/a.png", "width": width}
    body = {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"image": image}]}}},
    }
    await assert_refused(api, body, 400, "")


@pytest.mark.parametrize(
    "template",
    [{}, {"title": ""}, {"title": "  ", "textLines": ["", " "]}, {"buttons": [], "textLines": []}],
    ids=["empty", "empty title", "blank title and lines", "empty lists"],
)
async def test_a_card_that_shows_nothing_is_a_400(api: Api, template: dict[str, Any]) -> None:
    """Rendered, such a card was no part at all: recorded SENT, and nobody saw anything."""
    conversation_id = await sms_conversation(api)
    body = {"conversationId": conversation_id, "message": {"content": {"template": template}}}
    answer = await assert_refused(api, body, 400, "")
    [violation] = answer["details"]["validationError"]["fieldViolations"]
    assert violation["field"] == "message.content.template"


@pytest.mark.parametrize(
    "template",
    [{"title": "Sale"}, {"textLines": ["now on"]}, {"imageUrl": "https://shop.example/a.png"}],
    ids=["a title", "a line", "an image"],
)
async def test_a_card_with_one_thing_to_show_is_sent(api: Api, template: dict[str, Any]) -> None:
    conversation_id = await sms_conversation(api)
    body = {"conversationId": conversation_id, "message": {"content": {"template": template}}}
    await api.call("POST", "/inbox/v2/messages", json=body)


@pytest.mark.parametrize("address", ["+15551230001\n", "+15551230001\r\n", " +15551230001"])
async def test_a_phone_number_with_a_line_break_is_not_e164(api: Api, address: str) -> None:
    """Python's `$` matched before a final newline: a second contact held the same number."""
    await api.contact(("sms", "+15551230001"))
    before = await api.count(ContactRow)
    body = {"displayName": "Copy", "identities": [{"channelId": "sms", "address": address}]}
    await api.call("POST", "/inbox/v2/contacts", status=400, json=body)
    assert await api.count(ContactRow) == before


def _messages_cursor(conversation_id: str, sequence: int) -> str:
    query = {"conversationId": conversation_id, "sortingOrder": "DESC", "visibility": "BUSINESS"}
    raw = json.dumps({"d": "next", "k": [sequence], "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("sequence", [2**31, 2**62])
async def test_a_cursor_past_the_sequence_column_is_a_400(api: Api, sequence: int) -> None:
    """The column is 32 bits on PostgreSQL: such a cursor failed the query there (a 500)."""
    conversation_id = await sms_conversation(api)
    await api.send(conversation_id, "one")
    params = {
        "conversationId": conversation_id,
        "visibility": "BUSINESS",
        "paging.cursor": _messages_cursor(conversation_id, sequence),
    }
    answer = await api.call("GET", "/inbox/v2/messages", status=400, params=params)
    [violation] = answer["details"]["validationError"]["fieldViolations"]
    assert violation["field"] == "paging.cursor"
