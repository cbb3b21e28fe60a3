"""A real gateway and a customer's website on 127.0.0.1, and Debian's Chromium to drive them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright
from sqlmodel import select

from gateway.state import GATEWAY, Gateway
from gateway.store.models import EventRow
from tests.support.config import Agent, GatewayConfig, webchat_channel
from tests.support.databases import sqlite_url
from tests.support.live import live_gateway
from tests.support.polling import eventually
from tests.support.ports import free_port

PASSWORD = "agent-password"
#: the secret the site signs its signed-in users' ids with
IDENTITY_SECRET = "site-identity-secret"
Handler = Callable[[web.Request], Awaitable[web.Response]]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SITE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>A shop</h1>
<script src="{gateway}/channels/chat/widget.js" async></script>
</body></html>"""


@dataclass
class World:
    """The gateway, the site embedding its widget, and a browser."""

    gateway_url: str
    site_url: str
    app: web.Application
    browser: Browser

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    async def agent_page(self) -> Page:
        """A fresh browser with the agent logged in to the inbox."""
        context = await self.browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(self.gateway_url + "/inbox/")
        await page.fill("#username", "alice")
        await page.fill("#password", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_selector("#app:not([hidden])")
        await page.wait_for_selector("#live-dot.on")
        return page

    async def visitor_page(self) -> Page:
        """A fresh browser (a new visitor) on the site, with the chat open."""
        context = await self.browser.new_context()
        page = await context.new_page()
        await open_chat(page, self.site_url)
        return page

    async def events(self, slug: str) -> list[dict[str, Any]]:
        rows = await self.gateway.db.read(
            lambda s: list(s.exec(select(EventRow).where(EventRow.slug == slug)))
        )
        return [row.body for row in rows]

    async def wait_for_event(
        self, slug: str, match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The first `slug` event matching `match`, once there is one."""

        async def matching() -> dict[str, Any] | None:
            return next((body for body in await self.events(slug) if match(body)), None)

        return await eventually(matching)


async def open_chat(page: Page, site_url: str) -> None:
    await page.goto(site_url)
    await page.click("#ig-bubble")
    await page.wait_for_selector("#ig-panel", state="visible")


@pytest.fixture
async def world(chromium_path: str, tmp_path: Path) -> AsyncIterator[World]:
    site_port = free_port()
    site_url = f"http://127.0.0.1:{site_port}"
    config = GatewayConfig(
        database_url=sqlite_url(tmp_path),
        business_name="Test Shop",
        retry_delays=[0.2, 0.5],
        agents=[Agent.with_password("alice", PASSWORD)],
        channels=[webchat_channel(allowed_origins=[site_url], identity_secret=IDENTITY_SECRET)],
    )
    async with live_gateway(config) as live:
        site = web.Application()
        page = SITE_PAGE.format(gateway=live.url)
        site.router.add_get("/", _html(page))
        site_runner = web.AppRunner(site)
        await site_runner.setup()
        await web.TCPSite(site_runner, "127.0.0.1", site_port).start()

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium_path, args=CHROMIUM_ARGS
            )
            try:
                yield World(live.url, site_url, live.app, browser)
            finally:
                await browser.close()
                await site_runner.cleanup()


def _html(text: str) -> Handler:
    """A handler answering `text` as an HTML page."""

    async def serve(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/html")

    return serve
