"""The inbox's conversation list keeps what the agent loaded and shows the newest answer only."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, Route, expect
from sqlmodel import Session

from channels import Direction, MessageContent, Participant
from gateway.clock import now
from gateway.domain.messages import announce, append_message
from gateway.domain.participants import conversation_for
from tests.browser.conftest import World

pytestmark = pytest.mark.browser

#: the page's first page of conversations
PAGE = 50
#: counts the JSON answers the page has read, so a test knows a late answer was handled
COUNT_ANSWERS = """() => {
  window.answersRead = 0;
  const read = Response.prototype.json;
  Response.prototype.json = async function () {
    try { return await read.call(this); } finally { window.answersRead += 1; }
  };
}"""


async def customer_writes(
    world: World, number: int, text: str, at: datetime | None = None, live: bool = True
) -> None:
    """Store a message from customer `number` on the web chat, announced live when `live`."""
    directory = world.gateway.directory

    def write(session: Session) -> None:
        participant = Participant(f"v_{number:02d}", f"Customer {number:02d}")
        conversation, _, _ = conversation_for(session, "chat", participant)
        message = append_message(
            session,
            conversation,
            content=MessageContent.of_text(text).with_preview().wire(),
            sender=(conversation.participant_kind, conversation.participant_id),
            direction=Direction.PARTICIPANT_TO_BUSINESS,
            source_channel_id="chat",
            created_at=at,
        )
        if live:
            announce(session, message, None, directory)

    await world.gateway.db.write(write)


async def customers_wrote(world: World, texts: list[str]) -> None:
    """Customers 1, 2, … wrote these texts, one minute apart, the last one newest."""
    start = now() - timedelta(hours=2)
    for number, text in enumerate(texts, start=1):
        await customer_writes(world, number, text, at=start + timedelta(minutes=number), live=False)


async def test_a_live_update_keeps_every_conversation_the_agent_loaded(world: World) -> None:
    await customers_wrote(world, [f"Order question {n}" for n in range(1, PAGE + 11)])
    agent = await world.agent_page()
    conversations = agent.locator(".conversation")
    await expect(conversations).to_have_count(PAGE)
    await agent.click("#list-more")
    await expect(conversations).to_have_count(PAGE + 10)
    await expect(conversations.last).to_contain_text("Customer 01")

    # Customer 03, far down the second page, writes again while the agent reads the list.
    await customer_writes(world, 3, "Is my parcel on its way?")
    await expect(conversations.first).to_contain_text("Is my parcel on its way?")
    await expect(conversations.first).to_contain_text("Customer 03")
    await expect(conversations).to_have_count(PAGE + 10)
    await expect(conversations.filter(has_text="Customer 03")).to_have_count(1)
    await expect(conversations.last).to_contain_text("Customer 01")
    await expect(agent.locator("#list-more")).to_be_hidden()


async def test_a_late_answer_to_an_earlier_search_does_not_replace_newer_results(
    world: World,
) -> None:
    await customers_wrote(world, ["Apple crumble for two", "Banana bread please", "Cherry tart"])
    agent = await world.agent_page()
    conversations = agent.locator(".conversation")
    await expect(conversations).to_have_count(3)
    await agent.evaluate(COUNT_ANSWERS)

    # The search for "apple" is held on its way to the gateway: its answer will come last.
    held: list[Route] = []

    async def hold_apple(route: Route) -> None:
        if "q=apple" in route.request.url:
            held.append(route)
        else:
            await route.continue_()

    await agent.route(lambda url: "/inbox/api/conversations?" in url, hold_apple)
    await search(agent, "apple")
    while not held:
        await asyncio.sleep(0.01)

    await search(agent, "banana")
    await expect(conversations).to_have_count(1)
    await expect(conversations.first).to_contain_text("Banana bread please")

    answers = await agent.evaluate("window.answersRead")
    await held[0].continue_()
    await agent.wait_for_function("n => window.answersRead > n", arg=answers)
    await expect(conversations).to_have_count(1)
    await expect(conversations.first).to_contain_text("Banana bread please")
    await expect(agent.locator("#search")).to_have_value("banana")


async def search(agent: Page, text: str) -> None:
    """Type a search and wait until the page has asked the gateway for it."""
    async with agent.expect_request(lambda r: f"q={text}" in r.url):
        await agent.fill("#search", text)
