"""The inbox page's JSON endpoints and socket fed hostile input: no 5xx, refusals store nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp import ClientConnectionResetError, WSMsgType, WSServerHandshakeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import (
    ACCOUNT_SID,
    AGENT,
    ORIGIN,
    Live,
    assert_no_tracebacks,
    bodies,
    check,
    expect,
    header_sets,
    json_values,
    query_strings,
    with_query,
)
from tests.hostile.sessions import spare_session

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

ROUTES = (
    ("POST", "/inbox/api/logout"),
    ("GET", "/inbox/api/me"),
    ("GET", "/inbox/api/config"),
    ("GET", "/inbox/api/conversations"),
    ("GET", "/inbox/api/conversations/{id}"),
    ("POST", "/inbox/api/conversations/{id}/messages"),
    ("GET", "/inbox/api/media"),
    ("GET", "/inbox/static/{id}"),
    ("GET", "/inbox/"),
    ("PUT", "/inbox/api/me"),
)

#: session cookies: the real one, none, and forgeries
cookies = st.sampled_from(
    ("real", "none", "a.b", "e30.00", "eyJ1IjoiYWxpY2UiLCJleHAiOjk5OTk5OTk5OTl9.ff", "%FF", ".")
)
ids = st.sampled_from(
    ("conversation", "%FF", "%00", "x" * 300, "inbox.js", "..%2f..%2fsecrets", "-1")
)
page_queries = query_strings | st.sampled_from(
    (
        "before=-1",
        "before=99999999999999999999999",
        "before=%FF",
        "limit=-5&q=%00",
        "limit=1e9",
        "q=" + "%25" * 500,
        "channelId=sms&url=http%3A%2F%2Fexample.com%2Fa",
        "channelId=sms&url=file%3A%2F%2F%2Fetc%2Fpasswd",
        "channelId=fb&url=http%3A%2F%2F127.0.0.1%3A9%2Fx",
        "channelId=%FF&url=%FF",
    )
)


def cookie_headers(
    live: Live, choice: str, csrf: bool, origin: str | None, real: str | None = None
) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if choice == "real":
        headers.append(("Cookie", f"ig_session={real or live.cookie}"))
    elif choice != "none":
        headers.append(("Cookie", f"ig_session={choice}"))
    if csrf:
        headers.append(("X-Requested-With", "inbox"))
    if origin is not None:
        headers.append(("Origin", origin))
    return headers


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_random_page_requests_never_fail(live: Live, method: str, path: str) -> None:
    """Random cookies, CSRF headers, origins, bodies and queries: 4xx stores nothing, no 5xx."""
    # Logging out ends the session it names: fuzz it with a session of its own.
    real = spare_session(live) if path == "/inbox/api/logout" else live.cookie

    @given(
        cookie=cookies,
        csrf=st.booleans(),
        origin=st.none() | st.sampled_from((live.url, ORIGIN, "null", "http://evil.test")),
        target_id=ids,
        body=bodies,
        headers=header_sets(),
        query=page_queries,
        chunked=st.booleans(),
    )
    @FUZZ
    def run(
        cookie: str,
        csrf: bool,
        origin: str | None,
        target_id: str,
        body: bytes,
        headers: list[tuple[str, str]],
        query: str,
        chunked: bool,
    ) -> None:
        real_id = live.conversation_id if target_id == "conversation" else target_id
        target = with_query(path.replace("{id}", real_id), query)
        sent = [*cookie_headers(live, cookie, csrf, origin, real), *headers]
        check(live, lambda: live.request(method, target, body, sent, chunked=chunked))

    run()


credentials = st.fixed_dictionaries(
    {},
    optional={
        "username": st.text(max_size=20).filter(lambda u: u.casefold() != AGENT) | json_values,
        "password": st.text(max_size=20) | json_values,
        "extra": json_values,
    },
)


@given(data=credentials | json_values)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_random_logins_are_refused_without_a_server_error(live: Live, data: Any) -> None:
    """Login bodies of any shape are refused with a 4xx and store nothing."""
    headers = [("X-Requested-With", "inbox"), ("Content-Type", "application/json")]
    answer = check(
        live, lambda: live.request("POST", "/inbox/api/login", json.dumps(data).encode(), headers)
    )
    assert 400 <= answer.status < 500


valid_contents = st.sampled_from(
    (
        {"basic": {"items": [{"text": "hello"}]}},
        {"minimal": {"text": "hi"}},
        {"system": {"text": "not allowed"}},
        {"basic": {"items": []}},
        {"basic": {"items": [{"text": "x" * 5000}]}},
    )
)
replies = st.fixed_dictionaries(
    {},
    optional={
        "message": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "content": valid_contents | json_values,
                "visibility": st.sampled_from(("BUSINESS", "BUSINESS_AND_PARTICIPANT", "NOPE"))
                | json_values,
                "targetChannelIds": st.sampled_from((["chat"], ["nope"], [], ["sms"]))
                | json_values,
            },
        ),
        "extra": json_values,
    },
)


@given(data=replies | json_values, conversation=st.sampled_from(("real", "unknown")))
@FUZZ
def test_random_agent_replies_store_only_when_accepted(
    live: Live, data: Any, conversation: str
) -> None:
    """An agent's reply of any shape: a 4xx stores nothing; accepted ones may."""
    target_id = live.conversation_id if conversation == "real" else "no-such-conversation"
    path = f"/inbox/api/conversations/{quote(target_id)}/messages"
    headers = [*live.agent_headers, ("Content-Type", "application/json")]
    check(live, lambda: live.request("POST", path, json.dumps(data).encode(), headers))


@pytest.mark.parametrize("path", ["/inbox/api/login", "/inbox/api/conversations/{id}/messages"])
def test_deeply_nested_json_is_refused(live: Live, path: str) -> None:
    """A body of 50,000 nested arrays is a 400 on the page's JSON endpoints, not a 500."""
    target = path.replace("{id}", live.conversation_id)
    headers = [*live.agent_headers, ("Content-Type", "application/json")]
    answer = check(live, lambda: live.request("POST", target, b"[" * 50_000, headers))
    assert answer.status == 400, answer


def test_unreachable_media_host_is_a_bad_gateway(live: Live) -> None:
    """Media of a received MMS whose Twilio API host cannot be reached answers 502, not 500."""
    media = (
        f"http://127.0.0.1:9/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'1' * 32}"
        f"/Media/ME{'2' * 32}"
    )
    fields = {
        "MessageSid": "MM" + "1" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+15550004444",
        "To": "+15550001111",
        "Body": "",
        "NumMedia": "1",
        "MediaUrl0": media,
        "MediaContentType0": "image/png",
    }
    body = urlencode(fields).encode()
    signature = live.twilio_signature("/channels/sms/inbound", body)
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", signature),
    ]
    assert live.request("POST", "/channels/sms/inbound", body, headers).status == 200
    with sqlite3.connect(f"file:{live.db}?mode=ro", uri=True, timeout=30) as conn:
        [message_id] = conn.execute(
            "SELECT id FROM messages WHERE provider_message_id = ?", (fields["MessageSid"],)
        ).fetchone()
    query = urlencode({"channelId": "sms", "messageId": message_id, "url": media})
    answer = live.get(f"/inbox/api/media?{query}", live.agent_headers)
    expect(answer.status == 502, f"answered {answer.status}")
    assert_no_tracebacks(live)


# -- /inbox/ws ------------------------------------------------------------------------------


async def _socket(live: Live, headers: dict[str, str], frames: list[tuple[str, bytes]]) -> int:
    """Open /inbox/ws, send the frames, close; the handshake status (101 when it opened)."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(f"{live.url}/inbox/ws", headers=headers)
        except WSServerHandshakeError as refused:
            return refused.status
        async with ws:
            # Events of earlier tests' background work may come first; the greeting comes.
            while True:
                first = await ws.receive(timeout=20)
                assert first.type is WSMsgType.TEXT, first
                if json.loads(first.data).get("type") == "hello":
                    break
            try:
                for kind, payload in frames:
                    if ws.closed:
                        break
                    opcode = WSMsgType.BINARY if kind == "binary" else WSMsgType.TEXT
                    await ws.send_frame(payload, opcode)
                await ws.send_str("ping")
            except ClientConnectionResetError:
                # the page closed the socket on a bad frame (invalid UTF-8, say) before this
                # client read its close frame: the close is what the receive below finds
                pass
            answer = await ws.receive(timeout=20)
            assert answer.type in (WSMsgType.TEXT, WSMsgType.CLOSE, WSMsgType.CLOSED), answer
        return 101


page_frames = st.lists(
    st.one_of(
        st.text(max_size=100).map(lambda t: ("text", t.encode())),
        st.binary(max_size=100).map(lambda b: ("binary", b)),
        json_values.map(lambda v: ("text", json.dumps(v).encode())),
        st.just(("text", b"\xff\xfe")),
        st.just(("text", b"x" * 70_000)),
    ),
    max_size=4,
)


@given(
    cookie=cookies,
    origin=st.none() | st.sampled_from(("self", ORIGIN, "null", "http://evil.test")),
    frames=page_frames,
)
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_random_inbox_sockets_are_refused_or_ignored(
    live: Live, cookie: str, origin: str | None, frames: list[tuple[str, bytes]]
) -> None:
    """Foreign origins and bad cookies are refused; an agent's stray frames change nothing."""
    headers = dict(cookie_headers(live, cookie, False, None))
    if origin is not None:
        headers["Origin"] = live.url if origin == "self" else origin
    before = live.counts()
    status = asyncio.run(_socket(live, headers, frames))
    if origin not in (None, "self"):
        assert status == 403
    elif cookie != "real":
        assert status == 401
    else:
        assert status == 101
    assert live.counts() == before
    assert_no_tracebacks(live)
    assert live.healthy()
