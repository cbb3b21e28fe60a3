"""A returning visitor pages through a long history with successive `sync` frames."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from adapters.webchat import WebchatAdapter, WebchatConfig
from channels import Participant
from channels.testing import RecordingHost
from tests.adapters.test_webchat_socket import SITE, Visitor, eventually, new_visitor

#: the gateway's page: `GatewayHost.history` answers at most this many messages
PAGE = 500
WIDGET = Path(__file__).parents[2] / "adapters" / "webchat" / "static" / "widget.js"


class PagedHost(RecordingHost):
    """A host whose history answers one page at a time, oldest first, as the gateway's does."""

    async def history(self, participant: Participant, after_sequence: int) -> list[dict[str, Any]]:
        return (await super().history(participant, after_sequence))[:PAGE]


def stored(count: int) -> list[dict[str, Any]]:
    """Business messages with gaps in their sequences (hidden notes take numbers too)."""
    return [
        {
            "id": f"m{n}",
            "sequence": str(3 * n),
            "direction": "BUSINESS_TO_PARTICIPANT",
            "content": {"basic": {"items": [{"text": f"message {n}"}]}},
        }
        for n in range(1, count + 1)
    ]


async def page_through(visitor: Visitor) -> list[list[dict[str, Any]]]:
    """What the widget does on connecting: sync, and sync again after every full page."""
    pages: list[list[dict[str, Any]]] = []
    after = 0
    while True:
        visitor.socket.feed({"type": "sync", "afterSequence": str(after)})
        frame = await visitor.socket.next_frame()
        assert frame["type"] == "history"
        pages.append(frame["messages"])
        if len(frame["messages"]) < PAGE and not frame.get("more"):
            return pages
        after = int(frame["messages"][-1]["sequence"])


async def connect(count: int) -> Visitor:
    host = PagedHost(channel_id="chat")
    adapter = WebchatAdapter(
        "chat", WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]}), host
    )
    token, visitor_id = await new_visitor(adapter)
    host.stored_messages[visitor_id] = stored(count)
    visitor = Visitor(adapter, token)
    await eventually(lambda: visitor_id in host.feeds)
    return visitor


async def test_successive_syncs_bring_every_one_of_1200_messages_once_in_order() -> None:
    visitor = await connect(1200)
    try:
        pages = await page_through(visitor)
    finally:
        await visitor.leave()
    assert [len(p) for p in pages] == [500, 500, 200]
    assert [m["id"] for p in pages for m in p] == [f"m{n}" for n in range(1, 1201)]


async def test_a_history_of_exactly_whole_pages_ends_with_an_empty_page() -> None:
    visitor = await connect(1000)
    try:
        pages = await page_through(visitor)
    finally:
        await visitor.leave()
    assert [len(p) for p in pages] == [500, 500, 0]
    assert pages[1][-1]["id"] == "m1000"


def test_the_widget_pages_with_the_gateways_page_size() -> None:
    """The widget's constant is the page this test (and the gateway) use."""
    source = WIDGET.read_text()
    match = re.search(r"var HISTORY_PAGE = (\d+);", source)
    assert match is not None and int(match.group(1)) == PAGE
    assert "frame.more === true || frame.messages.length >= HISTORY_PAGE" in source


async def test_a_history_frame_is_bounded_in_size_and_pages_on_with_more() -> None:
    """Twenty long messages (100,000 characters each) come in frames of at most ~512 KB."""
    host = PagedHost(channel_id="chat")
    chat = WebchatAdapter(
        "chat",
        WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]}),
        host,
    )
    token, visitor_id = await new_visitor(chat)
    long = stored(20)
    for message in long:
        message["content"] = {"basic": {"items": [{"text": "x" * 100_000}]}}
    host.stored_messages[visitor_id] = long
    visitor = Visitor(chat, token)
    await eventually(lambda: visitor_id in host.feeds)
    pages = await page_through(visitor)
    await visitor.leave()
    assert [m["id"] for page in pages for m in page] == [f"m{n}" for n in range(1, 21)]
    assert all(len(json.dumps(page)) <= 600_000 for page in pages)
    assert len(pages) >= 4
    frames = [f for f in visitor.socket.sent if f["type"] == "history"]
    assert all(f.get("more") for f in frames[:-1]) and "more" not in frames[-1]
