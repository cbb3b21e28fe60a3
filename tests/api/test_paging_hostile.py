"""Forged paging cursors and odd numbers in `paging.limit` are a 400, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.api.conftest import Api


def cursor(data: Any) -> str:
    """A cursor as this API writes them: URL-safe base64 of JSON, without padding."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MESSAGES_QUERY = {"conversationId": "", "visibility": "BUSINESS", "sortingOrder": "DESC"}


def messages_cursor(key: Any, **changes: Any) -> dict[str, Any]:
    return {"d": "next", "k": key, "q": MESSAGES_QUERY, **changes}


#: forged cursors for GET /inbox/v2/messages (the query is filled in by the test)
FORGED_MESSAGE_CURSORS = {
    "a 41-digit sequence": messages_cursor([10**40]),
    "a sequence past 64 bits": messages_cursor([2**63]),
    "true as the sequence": messages_cursor([True]),
    "a fraction": messages_cursor([1.5]),
    "a string sequence": messages_cursor(["1"]),
    "two keys": messages_cursor([1, 2]),
    "no key": messages_cursor([]),
    "an object as key": messages_cursor({"a": 1}),
    "a negative sequence": messages_cursor([-1]),
    "an unknown direction": messages_cursor([1], d="sideways"),
    "an extra field": messages_cursor([1], x=1),
    "a query of numbers": messages_cursor([1], q={"conversationId": 1}),
    "nested 2,000 deep": b'{"d":"next","k":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "a 5,000-digit number": b'{"d":"next","k":[' + b"9" * 5000 + b'],"q":{}}',
    "not JSON": b"\xff\xfe",
    "a list": [1, 2, 3],
}

FORGED_CONVERSATION_CURSORS = {
    "a time past year 9999 once made UTC": ["9999-12-31T23:59:59-23:59", "c"],
    "a time before year 1 once made UTC": ["0001-01-01T00:00:00+23:59", "c"],
    "year 10000": ["10000-01-01T00:00:00+00:00", "c"],
    "a time without offset": ["2024-01-01T00:00:00", "c"],
    "not a time": ["yesterday", "c"],
    "true as the time": [True, "c"],
    "a number as the id": ["2024-01-01T00:00:00+00:00", 5],
    "a NUL in the id": ["2024-01-01T00:00:00+00:00", "c\u0000"],
    "a lone surrogate in the id": ["2024-01-01T00:00:00+00:00", "\ud800"],
    "an id of 100 characters": ["2024-01-01T00:00:00+00:00", "c" * 100],
    "one key": ["2024-01-01T00:00:00+00:00"],
}


def _encode_with_surrogates(data: Any) -> str:
    # json.dumps escapes a lone surrogate as \\ud800, which json.loads reads back as one
    return cursor(json.dumps(data).encode())


async def _conversation(api: Api) -> str:
    contact = await api.contact(("chat", "paging-visitor"))
    conversation_id = str((await api.conversation_of(contact["id"]))["id"])
    for n in range(3):
        await api.send(conversation_id, f"message {n}")
    return conversation_id


def _field(answer: dict[str, Any]) -> list[str]:
    return [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]


@pytest.mark.parametrize("name", list(FORGED_MESSAGE_CURSORS))
async def test_a_forged_messages_cursor_is_a_400(api: Api, name: str) -> None:
    conversation_id = await _conversation(api)
    data = FORGED_MESSAGE_CURSORS[name]
    if isinstance(data, dict) and data.get("q") == MESSAGES_QUERY:
        data = {**data, "q": {**MESSAGES_QUERY, "conversationId": conversation_id}}
    params = {
        "conversationId": conversation_id,
        "visibility": "BUSINESS",
        "paging.cursor": cursor(data),
    }
    answer = await api.call("GET", "/inbox/v2/messages", status=400, params=params)
    assert _field(answer) == ["paging.cursor"]


@pytest.mark.parametrize("name", list(FORGED_CONVERSATION_CURSORS))
async def test_a_forged_conversations_cursor_is_a_400(api: Api, name: str) -> None:
    await _conversation(api)
    data = {"d": "next", "k": FORGED_CONVERSATION_CURSORS[name], "q": {}}
    params = {"paging.cursor": _encode_with_surrogates(data)}
    answer = await api.call("GET", "/inbox/v2/conversations", status=400, params=params)
    assert _field(answer) == ["paging.cursor"]


@pytest.mark.parametrize(
    "text",
    ["A" * 5000, "eyJkIjoibmV4dCJ9!", "e y J 9", "ZXlK\u00e9"],
    ids=["5000 characters", "a character outside base64", "spaces", "non-ASCII"],
)
async def test_a_cursor_that_is_not_base64_of_a_cursor_is_a_400(api: Api, text: str) -> None:
    answer = await api.call(
        "GET", "/inbox/v2/conversations", status=400, params={"paging.cursor": text}
    )
    assert _field(answer) == ["paging.cursor"]


@pytest.mark.parametrize(
    "limit",
    [
        "¹",
        "²",
        "٣",
        "\uff11\uff10",
        "9" * 5000,
        "1_0",
        " 5",
        "5 ",
        "+5",
        "-1",
        "0",
        "101",
        "1e2",
        "",
    ],
)
async def test_a_paging_limit_other_than_ascii_digits_in_range_is_a_400(
    api: Api, limit: str
) -> None:
    """Superscripts and other digits `isdigit()` accepts, 5,000 digits, signs: all 400."""
    conversation_id = await _conversation(api)
    for path, params in (
        ("/inbox/v2/conversations", {}),
        ("/inbox/v2/messages", {"conversationId": conversation_id, "visibility": "BUSINESS"}),
    ):
        answer = await api.call("GET", path, status=400, params={**params, "paging.limit": limit})
        assert _field(answer) == ["paging.limit"]


async def test_cursors_the_api_gave_out_and_limits_in_range_still_page(api: Api) -> None:
    """1, 100 and a leading zero are limits; the cursors of both listings lead on."""
    conversation_id = await _conversation(api)
    listing = {"conversationId": conversation_id, "visibility": "BUSINESS"}
    first = await api.call("GET", "/inbox/v2/messages", params={**listing, "paging.limit": "01"})
    assert [m["sequence"] for m in first["messages"]] == ["3"]
    after = first["pagingMetadata"]["cursors"]["next"]
    rest = await api.call(
        "GET",
        "/inbox/v2/messages",
        params={**listing, "paging.limit": "100", "paging.cursor": after},
    )
    assert [m["sequence"] for m in rest["messages"]] == ["2", "1"]
    await api.conversation_of((await api.contact(("chat", "second-visitor")))["id"])
    page = await api.call("GET", "/inbox/v2/conversations", params={"paging.limit": "1"})
    following = await api.call(
        "GET",
        "/inbox/v2/conversations",
        params={"paging.limit": "1", "paging.cursor": page["pagingMetadata"]["cursors"]["next"]},
    )
    assert following["pagingMetadata"]["count"] == 1
    assert following["conversations"][0]["id"] != page["conversations"][0]["id"]
