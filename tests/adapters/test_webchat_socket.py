"""The web chat WebSocket: visitor frames become events, stored messages reach the visitor."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, cast

import pytest

from adapters.webchat import WebchatAdapter, WebchatConfig
from channels import (
    ButtonPressed,
    DeliveryStatus,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    ReadUpTo,
    StatusUpdate,
    WebhookRequest,
)
from channels.adapter import HttpHandler, SocketHandler
from channels.testing import RecordingHost, json_request

SITE = "https://shop.example.com"


class FakeSocket:
    """A `Socket` fed by the test, recording every frame the adapter sends."""

    def __init__(self) -> None:
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._changed = asyncio.Event()
        self._taken: list[dict[str, Any]] = []

    async def send_json(self, data: Mapping[str, Any]) -> None:
        self.sent.append(json.loads(json.dumps(data)))
        self._changed.set()

    async def _frames(self) -> AsyncIterator[str]:
        while (text := await self._incoming.get()) is not None:
            yield text

    def receive(self) -> AsyncIterator[str]:
        return self._frames()

    async def close(self, code: int = 1000, message: str = "") -> None:
        self.closed = (code, message)
        self._incoming.put_nowait(None)

    def feed(self, frame: Mapping[str, Any] | str) -> None:
        self._incoming.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def hang_up(self) -> None:
        self._incoming.put_nowait(None)

    async def next_frame(self) -> dict[str, Any]:
        """The next frame the adapter sends (waits for it, with a generous safety limit)."""
        seen = len(self._taken)
        while len(self.sent) <= seen:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout=5)
        frame = self.sent[seen]
        self._taken.append(frame)
        return frame


async def eventually(check: Callable[[], bool]) -> None:
    """Let the adapter's tasks run until `check` holds (bounded, not a timing assertion)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


class Visitor:
    """One browser tab connected to the adapter."""

    def __init__(
        self,
        adapter: WebchatAdapter,
        token: str,
        origin: str | None = SITE,
        client: str = "198.51.100.7",
    ) -> None:
        self.socket = FakeSocket()
        headers = {"origin": origin} if origin else {}
        request = json_request(
            "/channels/chat/ws", b"", method="GET", query={"token": token}, headers=headers
        )
        request = dataclasses.replace(request, remote=client, client_group=client)
        self.task = asyncio.create_task(serve(adapter, request, self.socket))

    async def leave(self) -> None:
        self.socket.hang_up()
        await asyncio.wait_for(self.task, timeout=5)


async def serve(adapter: WebchatAdapter, request: WebhookRequest, socket: FakeSocket) -> None:
    route = next(r for r in adapter.routes() if r.method == "WS")
    assert route.path == "ws"
    await cast(SocketHandler, route.handler)(request, socket)


def make_adapter(**overrides: Any) -> tuple[WebchatAdapter, RecordingHost]:
    host = RecordingHost(channel_id="chat")
    settings: dict[str, Any] = {"type": "webchat", "allowed_origins": [SITE]}
    settings.update(overrides)
    return WebchatAdapter("chat", WebchatConfig.model_validate(settings), host), host


async def new_visitor(adapter: WebchatAdapter) -> tuple[str, str]:
    """A session as the widget opens it: (token, visitor id)."""
    route = next(r for r in adapter.routes() if r.method == "POST")
    request = json_request("/channels/chat/sessions", b"{}", headers={"origin": SITE})
    response = await cast(HttpHandler, route.handler)(request)
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    data = json.loads(body)
    return data["token"], data["anonymousVisitorId"]


def text_frame(client_id: str, text: str = "Hello") -> dict[str, Any]:
    return {
        "type": "message",
        "clientMessageId": client_id,
        "content": {"basic": {"items": [{"text": text}]}},
    }


def messages_of(host: RecordingHost) -> list[InboundMessage]:
    return [e for e in host.events if isinstance(e, InboundMessage)]


@pytest.fixture
async def connected() -> AsyncIterator[tuple[WebchatAdapter, RecordingHost, Visitor, str]]:
    adapter, host = make_adapter()
    token, visitor_id = await new_visitor(adapter)
    visitor = Visitor(adapter, token)
    await eventually(lambda: visitor_id in host.feeds)
    yield adapter, host, visitor, visitor_id
    if not visitor.task.done():
        await visitor.leave()


async def test_a_visitor_message_is_stored_and_acknowledged(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, visitor_id = connected
    visitor.socket.feed(text_frame("c1", "Do you ship to Canada?"))
    ack = await visitor.socket.next_frame()
    assert ack["type"] == "ack"
    assert ack["clientMessageId"] == "c1"
    assert ack["message"]["content"] == {"basic": {"items": [{"text": "Do you ship to Canada?"}]}}
    [stored] = messages_of(host)
    # the id earlier versions stored it under: a resend across an upgrade is still found
    assert stored.provider_message_id == f"{visitor_id}:c1"
    assert stored.participant.address == visitor_id
    assert stored.participant.anonymous


async def test_the_same_client_message_id_twice_is_stored_once_and_acked_twice(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, _ = connected
    visitor.socket.feed(text_frame("c1"))
    first = await visitor.socket.next_frame()
    visitor.socket.feed(text_frame("c1"))
    second = await visitor.socket.next_frame()
    assert first["type"] == second["type"] == "ack"
    assert second["clientMessageId"] == "c1"
    assert len(messages_of(host)) == 1


async def test_interact_presses_the_button(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, visitor_id = connected
    visitor.socket.feed({"type": "interact", "messageId": "m-7", "interactionId": "yes"})
    await eventually(lambda: any(isinstance(e, ButtonPressed) for e in host.events))
    [pressed] = [e for e in host.events if isinstance(e, ButtonPressed)]
    assert (pressed.message_id, pressed.interaction_id) == ("m-7", "yes")
    assert pressed.participant.address == visitor_id


async def test_read_marks_messages_read_up_to_the_sequence(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, visitor_id = connected
    visitor.socket.feed({"type": "read", "sequence": "12"})
    await eventually(lambda: any(isinstance(e, ReadUpTo) for e in host.events))
    [read] = [e for e in host.events if isinstance(e, ReadUpTo)]
    assert read.sequence == 12
    assert read.participant.address == visitor_id


async def test_sync_returns_the_history_after_a_sequence(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, _, visitor, _ = connected
    for n in range(3):
        visitor.socket.feed(text_frame(f"c{n}", f"message {n}"))
        await visitor.socket.next_frame()
    visitor.socket.feed({"type": "sync", "afterSequence": "0"})
    everything = await visitor.socket.next_frame()
    assert everything["type"] == "history"
    assert [m["sequence"] for m in everything["messages"]] == ["1", "2", "3"]
    visitor.socket.feed({"type": "sync", "afterSequence": "2"})
    later = await visitor.socket.next_frame()
    assert [m["content"]["basic"]["items"][0]["text"] for m in later["messages"]] == ["message 2"]


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2, 3]",
        {"type": "dance"},
        {"clientMessageId": "c1"},
        {"type": "message", "content": {"basic": {"items": [{"text": "hi"}]}}},
        {"type": "message", "clientMessageId": 5, "content": {"basic": {"items": [{"text": "x"}]}}},
        {"type": "message", "clientMessageId": "c1", "content": "hi"},
        {"type": "message", "clientMessageId": "c1", "content": {"basic": {"items": []}}},
        {"type": "message", "clientMessageId": "c1", "content": {"html": "<b>x</b>"}},
        {"type": "interact", "messageId": "m-1"},
        {"type": "read", "sequence": "twelve"},
        {"type": "read", "sequence": True},
        {"type": "sync"},
        {"type": "sync", "afterSequence": "-1"},
        # past the 32-bit sequence column, which PostgreSQL refuses to compare with
        {"type": "read", "sequence": "2147483648"},
        {"type": "sync", "afterSequence": 2**40},
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str], frame: Any
) -> None:
    _, host, visitor, _ = connected
    visitor.socket.feed(frame)
    error = await visitor.socket.next_frame()
    assert error["type"] == "error"
    assert error["code"] == "BAD_FRAME"
    assert error["message"]
    assert host.events == []
    # Still open: the next good frame is served.
    visitor.socket.feed(text_frame("after"))
    assert (await visitor.socket.next_frame())["type"] == "ack"
    assert visitor.socket.closed is None
    assert not visitor.task.done()


async def test_visitors_cannot_write_system_notices(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, _ = connected
    visitor.socket.feed(
        {"type": "message", "clientMessageId": "c1", "content": {"system": {"text": "Refunded"}}}
    )
    error = await visitor.socket.next_frame()
    assert error["type"] == "error"
    assert error["clientMessageId"] == "c1"
    assert messages_of(host) == []


async def test_a_flood_of_messages_is_refused_and_not_stored() -> None:
    adapter, host = make_adapter(flood_messages=3, flood_seconds=60)
    token, _visitor_id = await new_visitor(adapter)
    visitor = Visitor(adapter, token)
    for n in range(3):
        visitor.socket.feed(text_frame(f"c{n}"))
        assert (await visitor.socket.next_frame())["type"] == "ack"
    visitor.socket.feed(text_frame("c3", "one too many"))
    refused = await visitor.socket.next_frame()
    assert refused["type"] == "error"
    assert refused["code"] == "RATE_LIMITED"
    assert refused["clientMessageId"] == "c3"
    assert len(messages_of(host)) == 3
    await visitor.leave()


async def test_the_flood_limit_counts_every_tab_of_a_visitor() -> None:
    adapter, host = make_adapter(flood_messages=2, flood_seconds=60)
    token, _ = await new_visitor(adapter)
    first, second = Visitor(adapter, token), Visitor(adapter, token)
    first.socket.feed(text_frame("a"))
    await first.socket.next_frame()
    second.socket.feed(text_frame("b"))
    await second.socket.next_frame()
    second.socket.feed(text_frame("c"))
    assert (await second.socket.next_frame())["code"] == "RATE_LIMITED"
    assert len(messages_of(host)) == 2
    await first.leave()
    await second.leave()


async def test_a_business_message_is_pushed_and_reported_delivered(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    adapter, host, visitor, visitor_id = connected
    message = {
        "id": "msg-biz-1",
        "sequence": "1",
        "direction": "BUSINESS_TO_PARTICIPANT",
        "content": {"basic": {"items": [{"text": "Yes, we do!"}]}},
        "delivery": {"channelId": "chat", "status": "SENT"},
    }
    host.publish(visitor_id, message)
    pushed = await visitor.socket.next_frame()
    assert pushed == {"type": "message", "message": message}
    await visitor.leave()
    await adapter.stop()  # writes the receipts still waiting
    [update] = [e for e in host.events if isinstance(e, StatusUpdate)]
    assert update.status is DeliveryStatus.DELIVERED
    assert update.provider_message_id == "msg-biz-1"


class StoredMessage(dict[str, Any]):
    """A message as the feed hands it over, which a weak reference can follow."""


async def test_a_socket_waiting_for_its_next_message_holds_none_of_the_last(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    """A quiet visitor's socket waits, perhaps for hours, for the next message: it keeps no
    reply it has pushed (ten thousand open sockets would keep ten thousand replies alive)."""
    _, host, visitor, visitor_id = connected
    message = StoredMessage(id="msg-biz-2", sequence="1", direction="BUSINESS_TO_PARTICIPANT")
    message["content"] = {"basic": {"items": [{"text": "On its way"}]}}
    host.publish(visitor_id, message)
    pushed = await visitor.socket.next_frame()
    assert pushed["message"]["id"] == "msg-biz-2"
    kept = weakref.ref(message)
    del message
    await eventually(lambda: kept() is None)
    await visitor.leave()


async def test_messages_for_another_channel_are_shown_but_not_marked_delivered(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    adapter, host, visitor, visitor_id = connected
    host.publish(
        visitor_id,
        {
            "id": "msg-sms",
            "sequence": "1",
            "direction": "BUSINESS_TO_PARTICIPANT",
            "content": {"basic": {"items": [{"text": "sent by SMS"}]}},
            "delivery": {"channelId": "sms", "status": "SENT"},
        },
    )
    assert (await visitor.socket.next_frame())["message"]["id"] == "msg-sms"
    visitor.socket.feed({"type": "read", "sequence": "1"})
    await eventually(lambda: any(isinstance(e, ReadUpTo) for e in host.events))
    await visitor.leave()
    await adapter.stop()  # writes the receipts still waiting
    assert not any(isinstance(e, StatusUpdate) for e in host.events)


async def test_two_tabs_receiving_one_message_report_it_delivered_once() -> None:
    adapter, host = make_adapter()
    token, visitor_id = await new_visitor(adapter)
    tabs = [Visitor(adapter, token), Visitor(adapter, token)]
    await eventually(lambda: len(host.feeds.get(visitor_id, [])) == 2)
    host.publish(
        visitor_id,
        {
            "id": "msg-biz-2",
            "sequence": "1",
            "direction": "BUSINESS_TO_PARTICIPANT",
            "content": {"basic": {"items": [{"text": "Both tabs show this"}]}},
            "delivery": {"channelId": "chat", "status": "SENT"},
        },
    )
    for tab in tabs:
        assert (await tab.socket.next_frame())["message"]["id"] == "msg-biz-2"
        await tab.leave()
    await adapter.stop()
    updates = [e for e in host.events if isinstance(e, StatusUpdate)]
    assert [(u.provider_message_id, u.status) for u in updates] == [
        ("msg-biz-2", DeliveryStatus.DELIVERED)
    ]


async def test_a_message_from_another_tab_reaches_this_tab() -> None:
    adapter, host = make_adapter()
    token, visitor_id = await new_visitor(adapter)
    writer, reader = Visitor(adapter, token), Visitor(adapter, token)
    await eventually(lambda: len(host.feeds.get(visitor_id, [])) == 2)
    writer.socket.feed(text_frame("c1", "from the phone"))
    ack = await writer.socket.next_frame()
    # The recording host stores but does not publish; the gateway publishes what it stored.
    host.publish(visitor_id, ack["message"])
    echoed = await reader.socket.next_frame()
    assert echoed == {"type": "message", "message": ack["message"]}
    await writer.leave()
    await reader.leave()


async def test_the_writing_tab_gets_its_message_once_in_the_ack(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    _, host, visitor, visitor_id = connected
    visitor.socket.feed(text_frame("c1"))
    ack = await visitor.socket.next_frame()
    host.publish(visitor_id, ack["message"])
    host.publish(visitor_id, {"id": "msg-next", "sequence": "2", "direction": "X"})
    following = await visitor.socket.next_frame()
    assert following["message"]["id"] == "msg-next"


async def test_the_ack_wins_when_the_feed_brings_the_message_first(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway's feed may hand the stored message to this socket's subscription before
    `ingest` has returned here: the ack, written after, carries it, and it is not pushed."""
    _, host, visitor, visitor_id = connected
    store = host.ingest

    async def published_before_returning(events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        outcomes = await store(events)
        stored = outcomes[0].message
        assert stored is not None
        host.publish(visitor_id, stored)
        await eventually(lambda: host.feeds[visitor_id][0].queue.empty())  # the pump has it
        return outcomes

    monkeypatch.setattr(host, "ingest", published_before_returning)
    visitor.socket.feed(text_frame("c1"))
    ack = await visitor.socket.next_frame()
    assert ack["type"] == "ack"
    host.publish(visitor_id, {"id": "msg-next", "sequence": "2", "direction": "X"})
    following = await visitor.socket.next_frame()
    assert following["message"]["id"] == "msg-next"


async def test_a_token_only_opens_its_own_conversation() -> None:
    adapter, host = make_adapter()
    token_a, visitor_a = await new_visitor(adapter)
    _, visitor_b = await new_visitor(adapter)
    host.stored_messages[visitor_b] = [{"id": "secret", "sequence": "1"}]
    visitor = Visitor(adapter, token_a)
    visitor.socket.feed({"type": "sync", "afterSequence": "0"})
    assert (await visitor.socket.next_frame())["messages"] == []
    await eventually(lambda: visitor_a in host.feeds)
    assert visitor_b not in host.feeds
    await visitor.leave()


@pytest.mark.parametrize("token", ["", "garbage", "e30.e30"])
async def test_a_bad_token_is_told_and_closed(token: str) -> None:
    adapter, host = make_adapter()
    visitor = Visitor(adapter, token)
    await asyncio.wait_for(visitor.task, timeout=5)
    assert visitor.socket.sent[0]["type"] == "error"
    assert visitor.socket.sent[0]["code"] == "INVALID_TOKEN"
    assert visitor.socket.closed is not None
    assert visitor.socket.closed[0] == 4401
    assert host.feeds == {}


async def test_a_socket_from_a_foreign_page_is_refused() -> None:
    adapter, _host = make_adapter()
    token, _ = await new_visitor(adapter)
    visitor = Visitor(adapter, token, origin="https://evil.example.com")
    await asyncio.wait_for(visitor.task, timeout=5)
    assert visitor.socket.sent[0]["code"] == "ORIGIN_NOT_ALLOWED"
    assert visitor.socket.closed is not None and visitor.socket.closed[0] == 4403


async def test_stop_closes_open_sockets(
    connected: tuple[WebchatAdapter, RecordingHost, Visitor, str],
) -> None:
    adapter, _, visitor, _ = connected
    await adapter.stop()
    await asyncio.wait_for(visitor.task, timeout=5)
    assert visitor.socket.closed is not None and visitor.socket.closed[0] == 1001
