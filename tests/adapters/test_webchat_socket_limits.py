"""Web chat sockets are capped per visitor token, per address and per channel; `sync` and
`read` frames are limited per token."""

from __future__ import annotations

from typing import Any

from adapters.webchat import WebchatAdapter, WebchatConfig
from channels import InMemoryLimits, ReadUpTo
from channels.testing import RecordingHost
from tests.adapters.test_webchat_socket import SITE, Visitor, eventually, new_visitor, text_frame


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None, **settings: Any) -> tuple[WebchatAdapter, RecordingHost]:
    host = RecordingHost(channel_id="chat", limits=InMemoryLimits(clock=clock or Clock()))
    config = WebchatConfig.model_validate(
        {"type": "webchat", "allowed_origins": [SITE], **settings}
    )
    return WebchatAdapter("chat", config, host), host


async def refused(visitor: Visitor) -> bool:
    """Whether the socket was told TOO_MANY_SOCKETS and closed with 4429."""
    frame = await visitor.socket.next_frame()
    await visitor.task
    return frame.get("code") == "TOO_MANY_SOCKETS" and (visitor.socket.closed or (0,))[0] == 4429


async def open_and_served(visitor: Visitor) -> None:
    """The socket is being served: a sync is answered with the history."""
    visitor.socket.feed({"type": "sync", "afterSequence": "0"})
    assert (await visitor.socket.next_frame())["type"] == "history"


async def test_twenty_sockets_per_visitor_token_then_refused() -> None:
    chat, _ = make()
    token, _ = await new_visitor(chat)
    tabs = [Visitor(chat, token) for _ in range(20)]
    for tab in tabs:
        await open_and_served(tab)
    extra = [Visitor(chat, token) for _ in range(5)]
    for tab in extra:
        assert await refused(tab)
    # a tab that closes makes room for a new one
    await tabs[0].leave()
    again = Visitor(chat, token)
    await open_and_served(again)
    # and another visitor is not held up by the first one's tabs
    other, _ = await new_visitor(chat)
    await open_and_served(Visitor(chat, other))


async def test_sockets_are_capped_per_address_across_tokens() -> None:
    chat, _ = make(sockets_per_address=3)
    tokens = [(await new_visitor(chat))[0] for _ in range(4)]
    for token in tokens[:3]:
        await open_and_served(Visitor(chat, token, client="203.0.113.66"))
    assert await refused(Visitor(chat, tokens[3], client="203.0.113.66"))
    await open_and_served(Visitor(chat, tokens[3], client="198.51.100.20"))


async def test_sockets_are_capped_for_the_channel() -> None:
    chat, _ = make(sockets_total=2)
    tokens = [(await new_visitor(chat))[0] for _ in range(3)]
    first = Visitor(chat, tokens[0], client="192.0.2.1")
    await open_and_served(first)
    await open_and_served(Visitor(chat, tokens[1], client="192.0.2.2"))
    assert await refused(Visitor(chat, tokens[2], client="192.0.2.3"))
    await first.leave()
    await open_and_served(Visitor(chat, tokens[2], client="192.0.2.3"))


async def test_sync_frames_are_limited_to_thirty_per_ten_seconds_per_token() -> None:
    clock = Clock()
    chat, _ = make(clock)
    token, _ = await new_visitor(chat)
    tabs = [Visitor(chat, token), Visitor(chat, token)]
    frames = []
    for i in range(40):
        tab = tabs[i % 2]  # every tab of the visitor counts against one limit
        tab.socket.feed({"type": "sync", "afterSequence": "0"})
        frames.append(await tab.socket.next_frame())
    assert sum(1 for f in frames if f["type"] == "history") == 30
    assert [f["code"] for f in frames if f["type"] == "error"] == ["RATE_LIMITED"] * 10
    clock.now += 10  # the window slides: the widget may page again
    tabs[0].socket.feed({"type": "sync", "afterSequence": "0"})
    assert (await tabs[0].socket.next_frame())["type"] == "history"


async def test_read_frames_are_limited_and_refused_ones_write_nothing() -> None:
    chat, host = make()
    token, _ = await new_visitor(chat)
    visitor = Visitor(chat, token)
    for sequence in range(1, 2001):
        visitor.socket.feed({"type": "read", "sequence": str(sequence)})
    visitor.socket.feed(text_frame("after"))  # a message still goes through
    await eventually(lambda: any(f["type"] == "ack" for f in visitor.socket.sent))
    assert sum(1 for e in host.events if isinstance(e, ReadUpTo)) == 30
    assert sum(1 for f in visitor.socket.sent if f.get("code") == "RATE_LIMITED") == 1970


async def test_frames_that_are_not_understood_are_counted_too() -> None:
    chat, _ = make()
    token, _ = await new_visitor(chat)
    visitor = Visitor(chat, token)
    for _ in range(100):
        visitor.socket.feed("not json")
    visitor.socket.feed(text_frame("after"))
    await eventually(lambda: any(f["type"] == "ack" for f in visitor.socket.sent))
    assert sum(1 for f in visitor.socket.sent if f.get("code") == "BAD_FRAME") == 30
