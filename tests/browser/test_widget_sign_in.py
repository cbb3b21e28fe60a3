"""The widget when the site signs the visitor in, in two tabs of one browser."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import IDENTITY_SECRET, World, open_chat

pytestmark = pytest.mark.browser

MINE = '.ig-message[data-direction="PARTICIPANT_TO_BUSINESS"]'


async def says(page: Page, text: str) -> None:
    await page.fill("#ig-input", text)
    await page.click("#ig-send")
    await expect(page.locator(MINE, has_text=text)).to_be_visible()


async def test_both_tabs_follow_the_visitor_into_their_signed_in_chat(world: World) -> None:
    """The tab left on the anonymous token has its socket closed by the gateway once the
    visitor is signed in: it follows the other tab into the signed-in chat, and neither tab
    falls back to a new anonymous one."""
    first = await world.visitor_page()
    await says(first, "before signing in")
    second = await first.context.new_page()
    await open_chat(second, world.site_url)
    await expect(second.locator(MINE, has_text="before signing in")).to_be_visible()

    signature = hmac.new(IDENTITY_SECRET.encode(), b"alice", hashlib.sha256).hexdigest()
    await first.evaluate(
        "s => window.InboxGateway.identify({userId: 'alice', signature: s})", signature
    )
    await says(first, "signed in, first tab")
    await expect(second.locator(MINE, has_text="signed in, first tab")).to_be_visible()
    await says(second, "signed in, second tab")
    await expect(first.locator(MINE, has_text="signed in, second tab")).to_be_visible()
    await expect(first.locator(MINE, has_text="before signing in")).to_be_visible()
