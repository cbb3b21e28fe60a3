"""What a web chat visitor's message makes the agent's browser load: their images wait for a
click that shows the host, and relative or same-origin URLs are never loaded at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, Request, expect

from channels import Direction, MessageContent, Participant
from gateway.domain.messages import announce, append_message
from gateway.domain.participants import conversation_for
from tests.browser.conftest import World

pytestmark = pytest.mark.browser

#: a transparent one-pixel PNG
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


class Tracker:
    """An image host that records who loaded what: a tracking pixel, or an internal host."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._pixel)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _pixel(self, request: web.Request) -> web.Response:
        self.seen.append(request.path)
        return web.Response(body=PIXEL, content_type="image/png")


@pytest.fixture
async def tracker() -> AsyncIterator[Tracker]:
    found = Tracker()
    await found.start()
    yield found
    assert found.runner is not None
    await found.runner.cleanup()


async def store(
    world: World, content: dict[str, Any], direction: Direction, *, validate: bool = True
) -> None:
    """Store a message in a web chat visitor's conversation, as if it had just arrived
    (`validate=False`: as it is, as an older version may have stored it)."""
    gateway = world.gateway

    def write(session: Any) -> None:
        conversation, _, _ = conversation_for(
            session, "chat", Participant("v_visitor", None, anonymous=True)
        )
        message = append_message(
            session,
            conversation,
            content=MessageContent.model_validate(content).with_preview().wire()
            if validate
            else content,
            sender=(conversation.participant_kind, conversation.participant_id)
            if direction is Direction.PARTICIPANT_TO_BUSINESS
            else ("appId", "crm"),
            direction=direction,
            source_channel_id="chat" if direction is Direction.PARTICIPANT_TO_BUSINESS else None,
        )
        announce(session, message, None, gateway.directory)

    await gateway.db.write(write)


async def open_thread(agent: Page) -> None:
    await agent.locator(".conversation").first.click()
    await agent.wait_for_selector("#thread-view:not([hidden])")


async def test_a_visitors_image_loads_only_when_the_agent_asks(
    world: World, tracker: Tracker
) -> None:
    await store(
        world,
        {
            "basic": {"items": [{"text": "look"}, {"image": {"url": tracker.url + "/pixel.png"}}]},
        },
        Direction.PARTICIPANT_TO_BUSINESS,
    )
    await store(
        world,
        {"template": {"title": "Card", "imageUrl": tracker.url + "/card.png"}},
        Direction.PARTICIPANT_TO_BUSINESS,
    )
    agent = await world.agent_page()
    await open_thread(agent)
    host = tracker.url.removeprefix("http://")
    deferred = agent.locator(".image-deferred")
    await expect(deferred).to_have_count(2)
    await expect(deferred.first).to_have_text(f"Show image from {host}")
    assert await agent.locator(".message-row.in img").count() == 0
    assert tracker.seen == []
    await deferred.first.click()
    await expect(agent.locator(".message-row.in img.image")).to_have_count(1)
    await agent.wait_for_function(
        "() => [...document.querySelectorAll('img.image')].every((i) => i.complete)"
    )
    assert tracker.seen == ["/pixel.png"]


async def test_relative_and_same_origin_urls_are_never_loaded(world: World) -> None:
    own = world.gateway_url
    await store(
        world,
        {
            "basic": {
                "items": [
                    {"image": {"url": "/inbox/api/media?channelId=chat&url=x"}},
                    {"image": {"url": own + "/inbox/api/me"}},
                    {"image": {"url": "//127.0.0.1:9/x.png"}},
                    {"file": {"url": "/inbox/api/conversations", "filename": "list.json"}},
                ]
            },
        },
        Direction.PARTICIPANT_TO_BUSINESS,
        validate=False,
    )
    agent = await world.agent_page()
    requests: list[Request] = []
    agent.on("request", lambda request: requests.append(request))
    await open_thread(agent)
    # stored before links were checked: shown as text (the API turns it into text), never loaded
    await expect(agent.locator(".message-row.in .text").first).to_contain_text(
        "/inbox/api/media?channelId=chat&url=x"
    )
    assert await agent.locator(".message-row.in img, .message-row.in .image-deferred").count() == 0
    assert await agent.locator(".message-row.in a").count() == 0
    await agent.wait_for_load_state("networkidle")
    loaded = [r.url for r in requests if r.resource_type in ("image", "media")]
    assert loaded == []


async def test_the_business_own_images_load_as_before(world: World, tracker: Tracker) -> None:
    await store(world, {"basic": {"items": [{"text": "hi"}]}}, Direction.PARTICIPANT_TO_BUSINESS)
    await store(
        world,
        {"basic": {"items": [{"image": {"url": tracker.url + "/catalogue.png"}}]}},
        Direction.BUSINESS_TO_PARTICIPANT,
    )
    agent = await world.agent_page()
    await open_thread(agent)
    await expect(agent.locator(".message-row.out img.image")).to_have_count(1)
    assert await agent.locator(".image-deferred").count() == 0
    await agent.wait_for_function(
        "() => [...document.querySelectorAll('img.image')].every((i) => i.complete)"
    )
    assert tracker.seen == ["/catalogue.png"]
