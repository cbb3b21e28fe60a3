"""Bearer tokens, and the SPEC error body for everything a client can get wrong."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.store.models import ContactRow, MessageRow
from gateway.web.api.auth import match_token
from tests.api.conftest import Api


def assert_application_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"message", "details"}
    assert body["details"]["applicationError"]["code"] == code
    assert body["details"]["applicationError"]["description"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": "Basic Y3JtOnNlY3JldA=="},
        {"Authorization": "Bearer "},
    ],
)
async def test_missing_or_wrong_token_is_401_and_stores_nothing(
    api: Api, headers: dict[str, str]
) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/inbox/v2/conversations", None),
        ("POST", "/inbox/v2/contacts", {"identities": []}),
        ("GET", "/inbox/v2/messages/x", None),
    ]
    for method, path, body in calls:
        response = await api.client.request(method, path, headers=headers, json=body)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert_application_error(await response.json(), "UNAUTHENTICATED")
    assert await api.count(ContactRow) == 0


async def test_openapi_document_is_public(api: Api) -> None:
    response = await api.client.get("/inbox/v2/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.1")


def test_token_match_names_the_token() -> None:
    tokens = [("crm", "a" * 20), ("shop", "b" * 20)]
    assert match_token("b" * 20, tokens) == "shop"
    assert match_token("b" * 19, tokens) is None
    assert match_token("é", tokens) is None


async def test_malformed_json_is_400(api: Api) -> None:
    for raw in (b"{not json", b"[1, 2]", b"", b"\xff\xfe"):
        status, body = await api.post_raw("/inbox/v2/contacts", raw)
        assert status == 400, body
        assert body["message"] == "invalid request"
        assert body["details"]["validationError"]["fieldViolations"][0]["field"] == "body"
    assert await api.count(ContactRow) == 0


async def test_text_a_database_cannot_keep_is_400(api: Api) -> None:
    body = {"displayName": "nul\u0000", "identities": []}
    answer = await api.call("POST", "/inbox/v2/contacts", status=400, json=body)
    assert answer["details"]["validationError"]["fieldViolations"][0]["field"] == "displayName"
    response = await api.client.post(
        "/inbox/v2/contacts",
        data=b'{"displayName": "\\ud800", "identities": []}',
        headers={**api.auth, "Content-Type": "application/json"},
    )
    assert response.status == 400
    response = await api.client.get("/inbox/v2/contacts/a%00b", headers=api.auth)
    assert response.status == 400
    assert await api.count(ContactRow) == 0


async def test_a_query_parameter_given_twice_is_400_naming_it(api: Api) -> None:
    """One conversation's messages are not listed for a query that names two: which one the
    client meant cannot be known, and a page size given twice is as ambiguous."""
    ann = await api.contact(("sms", "+15550001"))
    bob = await api.contact(("sms", "+15550002"), name="Bob")
    first = (await api.conversation_of(ann["id"]))["id"]
    second = (await api.conversation_of(bob["id"]))["id"]
    await api.send(first, "for Ann")
    for query, name in [
        (f"conversationId={first}&conversationId={second}&visibility=BUSINESS", "conversationId"),
        (
            f"conversationId={first}&visibility=BUSINESS&paging.limit=1&paging.limit=100",
            "paging.limit",
        ),
    ]:
        answer = await api.call("GET", f"/inbox/v2/messages?{query}", status=400)
        [violation] = answer["details"]["validationError"]["fieldViolations"]
        assert violation == {"field": name, "description": "given more than once; give it once"}
    # each given once, the same listing answers
    listed = await api.call("GET", f"/inbox/v2/messages?conversationId={first}&visibility=BUSINESS")
    assert [m["content"]["basic"]["items"][0]["text"] for m in listed["messages"]] == ["for Ann"]


async def test_oversize_body_is_413_and_stores_nothing(api: Api) -> None:
    contact = await api.contact(("chat", "u1"))
    conversation = await api.conversation_of(contact["id"])
    big = {
        "conversationId": conversation["id"],
        "message": {"content": {"basic": {"items": [{"text": "x" * 4000}] * 20}}},
    }
    response = await api.client.post("/inbox/v2/messages", json=big, headers=api.auth)
    assert response.status == 413
    assert_application_error(await response.json(), "PAYLOAD_TOO_LARGE")
    assert await api.count(MessageRow) == 0


async def test_oversize_chunked_body_is_413(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    response = await api.client.post("/inbox/v2/contacts", data=chunks(), headers=api.auth)
    assert response.status == 413
    assert_application_error(await response.json(), "PAYLOAD_TOO_LARGE")


async def test_unknown_path_and_method_have_the_error_body(api: Api) -> None:
    response = await api.client.get("/inbox/v2/nothing-here", headers=api.auth)
    assert response.status == 404
    assert_application_error(await response.json(), "NOT_FOUND")
    response = await api.client.delete("/inbox/v2/messages", headers=api.auth)
    assert response.status == 405
    assert_application_error(await response.json(), "METHOD_NOT_ALLOWED")


async def test_unknown_fields_are_refused_by_name(api: Api) -> None:
    body = {"identities": [], "nickname": "x"}
    answer = await api.call("POST", "/inbox/v2/contacts", status=400, json=body)
    violation = answer["details"]["validationError"]["fieldViolations"][0]
    assert violation == {"field": "nickname", "description": "unknown field"}
