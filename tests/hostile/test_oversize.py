"""Bodies over `max_body_bytes` get 413 on every POST route, before the body is read whole."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.conftest import LIMIT, ORIGIN, Answer, Live, expect, read_answer
from tests.hostile.sessions import spare_session

#: how far a hostile client would go: ten times the limit
STREAM_BYTES = 10 * LIMIT
CHUNK = LIMIT // 4

ADAPTER_ROUTES: list[Any] = [
    "/channels/sms/inbound",
    "/channels/sms/status",
    "/channels/fb/webhook",
    "/channels/chat/sessions",
]
API_ROUTES: list[Any] = [
    "/inbox/v2/conversations",
    "/inbox/v2/messages",
    "/inbox/v2/contacts",
    "/inbox/v2/contacts/{contact}/merge",
]
PAGE_ROUTES = [
    "/inbox/api/login",
    "/inbox/api/logout",
    "/inbox/api/conversations/{conversation}/messages",
]


def headers_for(live: Live, path: str) -> list[tuple[str, str]]:
    """What a route needs to get as far as reading its body: a token, a session, an Origin."""
    if path.startswith("/inbox/v2/"):
        return [*live.api_auth, ("Content-Type", "application/json")]
    if path.endswith("/logout"):
        # logging out ends the session it carries: a session of its own, not the suite's
        cookie = ("Cookie", f"ig_session={spare_session(live)}")
        return [cookie, ("X-Requested-With", "inbox"), ("Content-Type", "application/json")]
    if path.startswith("/inbox/api/"):
        return [*live.agent_headers, ("Content-Type", "application/json")]
    return [("Origin", ORIGIN), ("Content-Type", "application/json")]


def target_of(live: Live, path: str) -> str:
    return path.format(contact=live.extra["contact_id"], conversation=live.conversation_id)


def assert_too_large(answer: Answer) -> None:
    """413 with the SPEC error body (code PAYLOAD_TOO_LARGE)."""
    expect(answer.status == 413, f"answered {answer.status}: {answer.body[:300]!r}")
    kind = answer.headers.get("content-type", "")
    expect(kind.startswith("application/json"), f"413 as {kind}: {answer.body[:300]!r}")
    error = answer.json()["details"]["applicationError"]
    expect(error["code"] == "PAYLOAD_TOO_LARGE", f"413 with code {error['code']}")


@pytest.mark.parametrize("path", ADAPTER_ROUTES + API_ROUTES + PAGE_ROUTES)
def test_body_one_byte_over_the_limit_is_refused(live: Live, path: str) -> None:
    """A body of max_body_bytes + 1 (with Content-Length) gets 413 and stores nothing."""
    before = live.counts()
    answer = live.request(
        "POST", target_of(live, path), b"{" + b" " * LIMIT, headers_for(live, path)
    )
    assert_too_large(answer)
    assert live.counts() == before


@pytest.mark.parametrize("path", ADAPTER_ROUTES + API_ROUTES + PAGE_ROUTES)
def test_body_of_exactly_the_limit_is_not_refused_as_too_large(live: Live, path: str) -> None:
    """max_body_bytes itself is allowed ("larger requests get 413")."""
    answer = live.request("POST", target_of(live, path), b" " * LIMIT, headers_for(live, path))
    assert answer.status != 413 and answer.status < 500, (answer.status, answer.body[:300])


@pytest.mark.parametrize("path", ADAPTER_ROUTES + API_ROUTES)
def test_declared_oversize_is_refused_before_any_body_is_sent(live: Live, path: str) -> None:
    """A Content-Length over the limit is answered 413 without waiting for the body at all."""
    head = [f"POST {target_of(live, path)} HTTP/1.1", f"Host: 127.0.0.1:{live.port}"]
    head += [f"{k}: {v}" for k, v in headers_for(live, path)]
    head.append(f"Content-Length: {STREAM_BYTES}")
    with socket.create_connection(("127.0.0.1", live.port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        # Not one byte of the body is sent: a server that waited for it would never answer.
        assert_too_large(read_answer(sock, "POST"))


class CountingBody:
    """An endless-looking body: yields chunks and counts what the sender pulled from it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"x" * CHUNK


def stream(live: Live, path: str, body: CountingBody) -> Answer:
    """POST a chunked body (no Content-Length), stopping as soon as the server answers."""
    head = [f"POST {target_of(live, path)} HTTP/1.1", f"Host: 127.0.0.1:{live.port}"]
    head += [f"{k}: {v}" for k, v in headers_for(live, path)]
    head.append("Transfer-Encoding: chunked")
    with socket.create_connection(("127.0.0.1", live.port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in body:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            # Past the limit, give the server a moment to answer before pulling more.
            if body.pulled > LIMIT and select.select([sock], [], [], 0.25)[0]:
                break
        return read_answer(sock, "POST")


@pytest.mark.parametrize("path", ADAPTER_ROUTES + API_ROUTES + PAGE_ROUTES)
def test_endless_chunked_body_is_refused_early(live: Live, path: str) -> None:
    """A chunked body that keeps coming gets 413 long before the sender runs dry."""
    before = live.counts()
    body = CountingBody(STREAM_BYTES)
    answer = stream(live, path, body)
    if path.endswith("/logout"):
        # Logging out takes no body: the answer comes without reading the stream at all.
        assert answer.status < 500
    else:
        assert_too_large(answer)
    assert body.pulled < STREAM_BYTES, "the server read the whole stream before answering"
    assert live.counts() == before
