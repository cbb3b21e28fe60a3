"""The widget pages through a long history until the gateway answers a short page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from playwright.async_api import async_playwright

from tests.browser.conftest import CHROMIUM_ARGS, open_chat
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

WIDGET = Path(__file__).parents[2] / "adapters" / "webchat" / "static" / "widget.js"
#: the gateway's history page
PAGE = 500
PAGE_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><script src="/channels/chat/widget.js" async></script></body></html>"""


def message(n: int) -> dict[str, Any]:
    # sequences with gaps, as hidden notes leave them
    return {
        "id": f"m{n}",
        "sequence": str(3 * n),
        "direction": "BUSINESS_TO_PARTICIPANT",
        "createdDate": "2026-01-01T00:00:00Z",
        "content": {"basic": {"items": [{"text": f"message {n}"}]}},
    }


@dataclass
class FakeChannel:
    """The web chat routes, answering `sync` one page at a time from `count` messages."""

    count: int
    syncs: list[str] = field(default_factory=list)

    async def session(self, _: web.Request) -> web.Response:
        return web.json_response({"token": "t-1", "anonymousVisitorId": "v-1"})

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            if data.get("type") != "sync":
                continue
            after = int(data["afterSequence"])
            if not self.syncs:
                # a message sent live while the first page is read: newer than the rest
                await ws.send_json({"type": "message", "message": message(self.count + 1)})
            self.syncs.append(data["afterSequence"])
            page = [message(n) for n in range(1, self.count + 1) if 3 * n > after][:PAGE]
            await ws.send_json({"type": "history", "messages": page})
        return ws


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, FakeChannel]]:
    channel = FakeChannel(1200)
    app = web.Application()
    app.router.add_get("/", _page)
    app.router.add_get("/channels/chat/widget.js", _widget)
    app.router.add_post("/channels/chat/sessions", channel.session)
    app.router.add_get("/channels/chat/ws", channel.socket)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", channel
    finally:
        await runner.cleanup()


async def _page(_: web.Request) -> web.Response:
    return web.Response(text=PAGE_HTML, content_type="text/html")


async def _widget(_: web.Request) -> web.Response:
    return web.Response(text=WIDGET.read_text(), content_type="application/javascript")


async def test_a_returning_visitor_sees_all_1200_messages_and_the_live_one(
    chromium_path: str, site: tuple[str, FakeChannel]
) -> None:
    url, channel = site
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            await open_chat(page, url)
            await page.wait_for_function("document.querySelectorAll('.ig-message').length === 1201")
            shown = await page.eval_on_selector_all(
                ".ig-message", "nodes => nodes.map(n => n.getAttribute('data-message-id'))"
            )
        finally:
            await browser.close()
    # paged from each page's last message, not from the newer live one
    assert channel.syncs == ["0", "1500", "3000"]
    assert shown == [f"m{n}" for n in range(1, 1202)]
