"""Agents log in with their configured password; sessions are signed cookies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inbox_page.conftest import PAGE, PASSWORD, Inbox


async def test_wrong_password_is_refused_with_a_clear_error(inbox: Inbox) -> None:
    response = await inbox.login(password="nope")
    body = await response.json()
    assert response.status == 401
    assert body["message"] == "wrong username or password"
    assert "ig_session" not in response.cookies


async def test_unknown_agent_gets_the_same_answer_as_a_wrong_password(inbox: Inbox) -> None:
    response = await inbox.login(username="mallory", password=PASSWORD)
    assert response.status == 401
    assert (await response.json())["message"] == "wrong username or password"


async def test_login_sets_an_httponly_strict_session_cookie(inbox: Inbox) -> None:
    response = await inbox.login()
    assert response.status == 200
    assert (await response.json())["agent"] == {"username": "alice", "displayName": "Alice"}
    cookie = response.cookies["ig_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/inbox/"
    assert int(cookie["max-age"]) == 12 * 3600
    me = await inbox.get("/inbox/api/me")
    assert me["agent"]["username"] == "alice"
    assert me["business"]["name"] == "Test Shop"


async def test_the_api_needs_a_session(inbox: Inbox) -> None:
    await inbox.get("/inbox/api/conversations", status=401)
    await inbox.get("/inbox/api/me", status=401)


async def test_a_tampered_cookie_is_no_session(agent: Inbox) -> None:
    cookie = next(c for c in agent.client.session.cookie_jar if c.key == "ig_session")
    payload, _, signature = cookie.value.partition(".")
    forged = payload + "." + ("0" * len(signature))
    agent.client.session.cookie_jar.clear()
    response = await agent.client.get(
        "/inbox/api/me", headers={**PAGE, "Cookie": f"ig_session={forged}"}
    )
    assert response.status == 401


async def test_writes_without_the_page_header_are_refused(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    response = await agent.client.post(
        f"/inbox/api/conversations/{conversation_id}/messages",
        json={"message": {"content": {"basic": {"items": [{"text": "hi"}]}}}},
    )
    assert response.status == 403


async def test_writes_from_another_origin_are_refused(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    response = await agent.client.post(
        f"/inbox/api/conversations/{conversation_id}/messages",
        json={"message": {"content": {"basic": {"items": [{"text": "hi"}]}}}},
        headers={**PAGE, "Origin": "https://evil.example"},
    )
    assert response.status == 403
    # the refusal says why: the header is there, the origin is not this server
    assert (await response.json())["message"] == "request refused: sent from another origin"


async def test_logout_forgets_the_session(agent: Inbox) -> None:
    response = await agent.client.post("/inbox/api/logout", headers=PAGE)
    assert response.status == 200
    await agent.get("/inbox/api/me", status=401)


async def test_the_page_is_served_with_a_strict_content_security_policy(inbox: Inbox) -> None:
    response = await inbox.client.get("/inbox/")
    assert response.status == 200
    assert response.content_type == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    script = await inbox.client.get("/inbox/static/inbox.js")
    assert script.content_type == "application/javascript"
    assert (await inbox.client.get("/inbox/static/nothing.js")).status == 404


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "alice\ud800", "password": PASSWORD},
        {"username": "alice", "password": "\ud800"},
        {"username": "alice", "password": 12345},
        {"username": ["alice"], "password": PASSWORD},
        {"username": "alice"},
    ],
    ids=["lone surrogate in the name", "in the password", "a number", "a list", "no password"],
)
async def test_a_login_the_password_check_cannot_read_is_a_400(
    inbox: Inbox, credentials: dict[str, Any]
) -> None:
    """A lone surrogate could be neither hashed for the limits nor checked: it was a 500."""
    response = await inbox.client.post("/inbox/api/login", json=credentials, headers=PAGE)
    body = await response.json()
    assert response.status == 400, body
    assert body["details"]["applicationError"]["code"] == "INVALID_REQUEST"
    assert "ig_session" not in response.cookies
