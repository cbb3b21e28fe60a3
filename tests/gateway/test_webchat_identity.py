"""A web chat visitor identified by the site: one conversation per signed user, no more."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import Channel, twilio_channel, webchat_channel

SECRET = "site-identity-secret"


def channels(origin: str, twilio: FakeTwilio) -> list[Channel]:
    return [
        webchat_channel(allowed_origins=[origin], identity_secret=SECRET),
        twilio_channel(fake=twilio),
    ]


async def session(live: LiveGateway, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Origin": "https://shop.example.com"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{live.url}/channels/chat/sessions", json=body, headers=headers) as response,
    ):
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def say(live: LiveGateway, token: str, text: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={token}") as ws,
    ):
        frame = {
            "type": "message",
            "clientMessageId": text,
            "content": {"basic": {"items": [{"text": text}]}},
        }
        await ws.send_json(frame)
        while True:
            answer = await ws.receive_json(timeout=5)
            if answer["type"] == "ack":
                return


async def api(live: LiveGateway, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(live.url + path, headers=live.auth) as response,
    ):
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def test_an_identified_visitor_keeps_their_chat_but_never_gets_a_strangers_sms(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """The signature covers the user id only: a phone number sent beside it links nothing."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    await twilio.post_inbound(f"{live.url}/channels/sms/inbound", "+15557654321", "by SMS")
    [sms_conversation] = (await api(live, "/inbox/v2/conversations"))["conversations"]
    anonymous = await session(live, {})
    assert "anonymousVisitorId" in anonymous
    await say(live, anonymous["token"], "on the site")

    signature = hmac.new(SECRET.encode(), b"user-42", hashlib.sha256).hexdigest()
    identity = {
        "userId": "user-42",
        "name": "Ann",
        "phone": "+15557654321",
        "signature": signature,
    }
    known = await session(live, {"token": anonymous["token"], "identity": identity})
    assert "contactId" in known
    await say(live, known["token"], "still me")

    merged = await api(live, f"/inbox/v2/conversations/{anonymous['conversationId']}")
    target = merged["conversation"]
    assert target["id"] == known["conversationId"] != sms_conversation["id"]
    assert target["channelIds"] == ["chat"]
    assert target["participantDisplayData"]["name"] == "Ann"
    assert await texts(live, target["id"]) == ["on the site", "still me"]
    assert await texts(live, sms_conversation["id"]) == ["by SMS"]
    # The same signed user later, from another browser, gets the same conversation.
    again = await session(live, {"identity": identity})
    assert again["conversationId"] == target["id"]


async def texts(live: LiveGateway, conversation_id: str) -> list[str]:
    page = await api(
        live,
        f"/inbox/v2/messages?conversationId={conversation_id}&visibility=BUSINESS"
        "&sorting.order=ASC",
    )
    return [
        m["content"]["basic"]["items"][0]["text"]
        for m in page["messages"]
        if "basic" in m["content"]
    ]


async def test_a_forged_identity_is_refused(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await start_gateway(channels("https://shop.example.com", twilio))
    headers = {"Origin": "https://shop.example.com"}
    body = {"identity": {"userId": "user-42", "signature": "0" * 64}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{live.url}/channels/chat/sessions", json=body, headers=headers) as response,
    ):
        assert response.status == 403
    conversations = await api(live, "/inbox/v2/conversations")
    assert conversations["conversations"] == []


async def history(live: LiveGateway, token: str) -> list[str]:
    """The texts a socket opened with `token` is shown when it asks for everything."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={token}") as ws,
    ):
        await ws.send_json({"type": "sync", "afterSequence": "0"})
        while True:
            frame = await ws.receive_json(timeout=5)
            if frame["type"] == "history":
                return [m["content"]["basic"]["items"][0]["text"] for m in frame["messages"]]


async def test_a_token_copied_before_the_visitor_was_identified_opens_nothing_of_theirs(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """On a shared computer, the anonymous token from before the person logged in used to
    follow the merge into their conversation, read what they wrote and write into it; a
    socket it had open then went on showing them every reply and every message of theirs."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    anonymous = await session(live, {})
    await say(live, anonymous["token"], "before logging in")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={anonymous['token']}") as left_open,
    ):
        await left_open.send_json({"type": "sync", "afterSequence": "0"})
        assert (await left_open.receive_json(timeout=5))["type"] == "history"
        signature = hmac.new(SECRET.encode(), b"alice", hashlib.sha256).hexdigest()
        identified = await session(
            live,
            {"token": anonymous["token"], "identity": {"userId": "alice", "signature": signature}},
        )
        await say(live, identified["token"], "my card ends 4242")
        reply = {"content": {"basic": {"items": [{"text": "your order ships today"}]}}}
        body = {"conversationId": identified["conversationId"], "message": reply}
        async with http.post(
            f"{live.url}/inbox/v2/messages", json=body, headers=live.auth
        ) as response:
            assert response.status == 200

        # the socket is told its token opens nothing now, and is closed as the widget expects
        # of an invalid token: it forgets the conversation and starts a new, empty one
        refused = await left_open.receive_json(timeout=5)
        assert refused["type"] == "error" and refused["code"] == "INVALID_TOKEN", refused
        closing = await left_open.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4401, closing

    renewed = await session(live, {"token": anonymous["token"]})
    assert renewed["conversationId"] != identified["conversationId"]
    assert "contactId" not in renewed
    assert await history(live, anonymous["token"]) == []
    await say(live, anonymous["token"], "from the copied token")

    # the identified person keeps everything they wrote, before and after, and nothing else
    theirs = ["before logging in", "my card ends 4242", "your order ships today"]
    assert await history(live, identified["token"]) == theirs
    assert await texts(live, identified["conversationId"]) == theirs
    # the anonymous conversation's id still answers as the identified one
    merged = await api(live, f"/inbox/v2/conversations/{anonymous['conversationId']}")
    assert merged["conversation"]["id"] == identified["conversationId"]


async def send(live: LiveGateway, token: str, client_message_id: str, text: str) -> dict[str, Any]:
    """The ack of a message sent on a socket opened with `token` (an error frame fails)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{live.url}/channels/chat/ws?token={token}") as ws,
    ):
        content = {"basic": {"items": [{"text": text}]}}
        frame = {"type": "message", "clientMessageId": client_message_id, "content": content}
        await ws.send_json(frame)
        while True:
            answer = await ws.receive_json(timeout=5)
            assert answer["type"] != "error", answer
            if answer["type"] == "ack":
                assert isinstance(answer, dict)
                return answer


def signed_in(user_id: str) -> dict[str, Any]:
    signature = hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return {"identity": {"userId": user_id, "signature": signature}}


async def test_a_visitor_with_the_longest_user_id_can_open_their_chat(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """On PostgreSQL their socket's limit key was longer than the shared limits keep: the
    socket failed with an error in the log, and the widget reconnected for ever."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    visitor = await session(live, signed_in("u" * 255))
    assert await history(live, visitor["token"]) == []


async def test_a_visitor_with_the_longest_user_id_can_write_and_a_resend_is_kept_once(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """A user id of 255 characters is accepted; their messages used to fail to store, each
    answered UNAVAILABLE, so the widget said "Not sent" whatever they wrote."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    visitor = await session(live, signed_in("u" * 255))
    client_message_id = "c" * 128  # the longest the protocol accepts
    first = await send(live, visitor["token"], client_message_id, "hello from a long id")
    again = await send(live, visitor["token"], client_message_id, "hello from a long id")
    assert again["message"]["id"] == first["message"]["id"]
    assert await texts(live, visitor["conversationId"]) == ["hello from a long id"]


async def test_two_visitors_whose_ids_join_alike_each_keep_their_own_message(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """User "org" writing "a:b" and user "org:a" writing "b" used to share one stored id: the
    second visitor's message was taken for a resend, and their ack showed the first's text."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    first = await session(live, signed_in("org"))
    second = await session(live, signed_in("org:a"))
    ack = await send(live, first["token"], "a:b", "the first visitor's words")
    other = await send(live, second["token"], "b", "the second visitor's words")
    assert ack["message"]["conversationId"] == first["conversationId"]
    assert other["message"]["conversationId"] == second["conversationId"]
    assert other["message"]["content"]["previewText"] == "the second visitor's words"
    assert await texts(live, second["conversationId"]) == ["the second visitor's words"]


async def test_a_message_resent_after_signing_in_is_kept_once(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """The widget resends, on the signed-in socket, a message whose ack it had not read when
    the site identified the visitor: it used to be stored a second time."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    anonymous = await session(live, {})
    sent = await send(live, anonymous["token"], "c_0123456789abcdef", "I need help")
    identified = await session(live, {"token": anonymous["token"], **signed_in("alice")})
    resent = await send(live, identified["token"], "c_0123456789abcdef", "I need help")
    assert resent["message"]["id"] == sent["message"]["id"]
    assert await texts(live, identified["conversationId"]) == ["I need help"]


async def test_a_copied_token_resending_a_message_gets_nothing_of_the_identified_person(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """The anonymous token from before the person signed in, resending a clientMessageId it
    had used, used to be answered with that message in the person's conversation."""
    live = await start_gateway(channels("https://shop.example.com", twilio))
    anonymous = await session(live, {})
    await send(live, anonymous["token"], "c1", "before signing in")
    identified = await session(live, {"token": anonymous["token"], **signed_in("alice")})

    copied = await send(live, anonymous["token"], "c1", "from the copied token")
    assert copied["message"]["conversationId"] != identified["conversationId"]
    assert copied["message"]["content"]["previewText"] == "from the copied token"
    assert await texts(live, identified["conversationId"]) == ["before signing in"]
