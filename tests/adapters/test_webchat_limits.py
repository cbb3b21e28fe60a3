"""Web chat sessions and visitor messages are limited per client address and per channel."""

from __future__ import annotations

import dataclasses
from typing import Any

from adapters.webchat import WebchatAdapter
from channels import InboundMessage
from channels.testing import RecordingHost, answer, route_handler
from tests.adapters.test_webchat_sessions import post
from tests.adapters.test_webchat_socket import Visitor, text_frame
from tests.adapters.webchat_support import SESSIONS, adapter, host, session_request

ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.20"


async def open_session(chat: WebchatAdapter, client: str, body: Any = None) -> dict[str, Any]:
    request = dataclasses.replace(
        session_request(body if body is not None else {}), remote=client, client_group=client
    )
    return await post(chat, request)


async def test_sixty_new_sessions_a_minute_per_address_then_429() -> None:
    recording = host()
    chat = adapter(recording)
    answers = [await open_session(chat, ATTACKER) for _ in range(70)]
    assert [a["status"] for a in answers].count(200) == 60
    refused = answers[-1]
    assert refused["status"] == 429
    assert refused["details"]["applicationError"]["code"] == "RATE_LIMITED"
    assert len(recording.sessions) == 60, "a refused request opened a session"
    # a visitor at another address is not held up by someone else's flood
    assert (await open_session(chat, NEIGHBOUR))["status"] == 200
    # and a returning visitor at the flooded address renews their token: no new session
    returning = answers[0]
    renewed = await open_session(chat, ATTACKER, {"token": returning["token"]})
    assert renewed["status"] == 200
    assert renewed["conversationId"] == returning["conversationId"]


async def test_the_429_says_when_to_try_again() -> None:
    chat = adapter(host(), sessions_per_minute=1)
    await open_session(chat, ATTACKER)
    request = dataclasses.replace(session_request({}), remote=ATTACKER, client_group=ATTACKER)
    response = await answer(route_handler(chat, "POST", SESSIONS), request)
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_new_sessions_are_limited_in_total_whatever_the_address() -> None:
    recording = host()
    chat = adapter(recording, sessions_per_minute_total=5)
    answers = [await open_session(chat, f"192.0.2.{i}") for i in range(1, 9)]
    assert [a["status"] for a in answers] == [200] * 5 + [429] * 3
    assert len(recording.sessions) == 5


async def test_a_hundred_messages_a_minute_per_address_across_all_its_tokens() -> None:
    """20 tokens x 20 messages from one address: the per-token limit alone let 400 through."""
    recording = host()
    chat = adapter(recording)
    tokens = [(await open_session(chat, ATTACKER))["token"] for _ in range(20)]
    visitors = [Visitor(chat, token, client=ATTACKER) for token in tokens]
    answers: list[dict[str, Any]] = []
    for v, visitor in enumerate(visitors):
        for m in range(20):
            visitor.socket.feed(text_frame(f"{v}-{m}", "buy cheap watches"))
            answers.append(await visitor.socket.next_frame())
    assert sum(1 for a in answers if a["type"] == "ack") == 100
    assert {a["code"] for a in answers if a["type"] == "error"} == {"RATE_LIMITED"}
    assert len(stored(recording)) == 100

    # a visitor at another address still writes
    token = (await open_session(chat, NEIGHBOUR))["token"]
    neighbour = Visitor(chat, token, client=NEIGHBOUR)
    neighbour.socket.feed(text_frame("hello", "Is the shop open on Sunday?"))
    assert (await neighbour.socket.next_frame())["type"] == "ack"
    for visitor in [*visitors, neighbour]:
        await visitor.leave()


async def test_visitor_messages_are_limited_in_total_whatever_the_address() -> None:
    recording = host()
    chat = adapter(recording, messages_per_minute_total=3)
    answers = []
    for i in range(1, 6):
        client = f"192.0.2.{i}"
        visitor = Visitor(chat, (await open_session(chat, client))["token"], client=client)
        visitor.socket.feed(text_frame(f"m{i}"))
        answers.append((await visitor.socket.next_frame())["type"])
        await visitor.leave()
    assert answers == ["ack"] * 3 + ["error"] * 2
    assert len(stored(recording)) == 3


def stored(recording: RecordingHost) -> list[InboundMessage]:
    return [e for e in recording.events if isinstance(e, InboundMessage)]
