"""What the OpenAPI document says is what is served: strict bodies, 401 first, every status."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from gateway.store.models import ContactRow, MessageRow
from gateway.web.api.openapi import channels_of, document
from tests.api.conftest import TOKEN, Api

WRONG = {"Authorization": "Bearer not-the-token-0123456789"}
NUL = "%00"


def operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation the served document lists, but itself."""
    paths = document(channels_of(api.gateway.directory))["paths"]
    return [
        (method.upper(), path, operation)
        for path, item in paths.items()
        for method, operation in item.items()
        if operation["operationId"] != "openapi"
    ]


def _target(path: str, record_id: str, query: str = "") -> URL:
    raw = path.replace("{id}", record_id) + (f"?{query}" if query else "")
    return URL(raw, encoded=True)


#: hostile ways to call an operation; each must meet 401 first without a valid token
HOSTILE = {
    "NUL in the query": {"query": f"conversationId=x{NUL}&visibility=BUSINESS"},
    "NUL in the id": {"id": f"x{NUL}y"},
    "a forged cursor": {"query": "visibility=BUSINESS&conversationId=x&paging.cursor=eyJ9"},
    "a superscript limit": {"query": "visibility=BUSINESS&conversationId=x&paging.limit=%C2%B9"},
    "an oversize body": {"body": b"{" + b" " * 70_000 + b"}"},
    "malformed JSON": {"body": b'{"silent": 0, '},
}


async def _call(
    api: Api, method: str, path: str, how: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    target = _target(path, how.get("id", "some-id"), how.get("query", ""))
    body = how.get("body", b"{}" if method == "POST" else None)
    response = await api.client.request(
        method, target, data=body, headers={"Content-Type": "application/json", **headers}
    )
    return response.status, await response.json()


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_without_a_valid_token_every_operation_answers_401_first(api: Api, name: str) -> None:
    """NUL characters, forged cursors, odd limits, oversize or malformed bodies: 401 first."""
    for method, path, _ in operations(api):
        for headers in ({}, WRONG):
            status, body = await _call(api, method, path, HOSTILE[name], headers)
            assert status == 401, (method, path, body)
            assert body["details"]["applicationError"]["code"] == "UNAUTHENTICATED"
    assert await api.count(MessageRow) == 0 and await api.count(ContactRow) == 0


@pytest.mark.parametrize("name", [*HOSTILE, "an unknown id"])
async def test_every_status_an_operation_answers_is_in_the_document(api: Api, name: str) -> None:
    """With the token, whatever each operation answers a hostile request is documented."""
    how = HOSTILE.get(name, {"id": "no-such-record"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for method, path, operation in operations(api):
        status, body = await _call(api, method, path, how, auth)
        assert status < 500, (method, path, body)
        assert str(status) in operation["responses"], (method, path, status, body)


@pytest.mark.parametrize("coding", ["br", "compress"])
async def test_a_body_in_a_coding_the_gateway_does_not_read_is_a_documented_415(
    api: Api, coding: str
) -> None:
    """br is refused by the HTTP parser, before the token is read; any other coding but gzip
    and deflate by the gateway, at the same point: both are 415, and documented."""
    for method, path, operation in operations(api):
        for auth in ({"Authorization": f"Bearer {TOKEN}"}, WRONG):
            headers = {"Content-Encoding": coding, **auth}
            status, body = await _call(api, method, path, {"body": b"{}"}, headers)
            assert status == 415, (method, path, body)
            assert body["details"]["applicationError"]["code"] == "UNSUPPORTED_CONTENT_ENCODING"
            assert "415" in operation["responses"], (method, path)
    assert await api.count(MessageRow) == 0 and await api.count(ContactRow) == 0


#: values the document refuses (booleans are JSON booleans, integers JSON integers)
LOOSE_VALUES = {
    "silent": [0, 1, "yes", "off", "true", "1", "false"],
    "sendNotifications": ["true", 1, "on"],
}


async def _conversation(api: Api) -> str:
    contact = await api.contact(("chat", "strict-visitor"))
    return str((await api.conversation_of(contact["id"]))["id"])


def _text(conversation_id: str, **extra: Any) -> dict[str, Any]:
    content = {"basic": {"items": [{"text": "hi"}]}}
    return {"conversationId": conversation_id, "message": {"content": content}, **extra}


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in LOOSE_VALUES.items() for v in values]
)
async def test_a_boolean_must_be_a_json_boolean(api: Api, field: str, value: Any) -> None:
    conversation_id = await _conversation(api)
    answer = await api.call(
        "POST", "/inbox/v2/messages", status=400, json=_text(conversation_id, **{field: value})
    )
    violations = answer["details"]["validationError"]["fieldViolations"]
    assert [v["field"] for v in violations] == [field]
    assert await api.count(MessageRow) == 0


@pytest.mark.parametrize("value", [True, False, "2", 2.5, 0])
async def test_an_image_size_must_be_a_json_integer(api: Api, value: Any) -> None:
    """`height: true` was once stored as 1; now anything but an integer from 1 is a 400."""
    conversation_id = await _conversation(api)
    image = {"url": "https://shop.example/a.png", "width": 10, "height": value}
    body = {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"image": image}]}}},
    }
    answer = await api.call("POST", "/inbox/v2/messages", status=400, json=body)
    violations = answer["details"]["validationError"]["fieldViolations"]
    assert [v["field"] for v in violations] == ["message.content.basic.items.0.image.height"]
    assert await api.count(MessageRow) == 0


async def test_json_booleans_and_integers_are_accepted(api: Api) -> None:
    """480.0 is the integer 480 to JSON Schema, so to the API too."""
    conversation_id = await _conversation(api)
    image = {"url": "https://shop.example/a.png", "width": 640, "height": 480.0}
    body = {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"image": image}]}}},
        "silent": False,
        "sendNotifications": True,
    }
    message = (await api.call("POST", "/inbox/v2/messages", json=body))["message"]
    assert message["content"]["basic"]["items"] == [{"image": {**image, "height": 480}}]
