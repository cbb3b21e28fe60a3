"""The inbox page and the web chat widget, end to end in Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import World, open_chat

pytestmark = pytest.mark.browser

OUT = '.ig-message[data-direction="BUSINESS_TO_PARTICIPANT"]'


async def visitor_says(page: Page, text: str) -> None:
    await page.fill("#ig-input", text)
    await page.click("#ig-send")
    await expect(
        page.locator('.ig-message[data-direction="PARTICIPANT_TO_BUSINESS"]', has_text=text)
    ).to_be_visible()


async def open_first_conversation(agent: Page, preview: str) -> None:
    await agent.locator(".conversation", has_text=preview).click()
    await agent.wait_for_selector("#thread-view:not([hidden])")


async def test_login_rejects_a_wrong_password(world: World) -> None:
    context = await world.browser.new_context()
    page = await context.new_page()
    await page.goto(world.gateway_url + "/inbox/")
    await page.fill("#username", "alice")
    await page.fill("#password", "not the password")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    await expect(page.locator("#app")).to_be_hidden()


async def test_a_visitor_message_appears_live_in_the_inbox(world: World) -> None:
    agent = await world.agent_page()
    visitor = await world.visitor_page()
    await visitor_says(visitor, "Do you have this in blue?")
    # no reload: the list and the thread update from the live socket
    await expect(agent.locator(".conversation-preview")).to_have_text("Do you have this in blue?")
    await expect(agent.locator(".unread-count")).to_have_text("1")
    await open_first_conversation(agent, "Do you have this in blue?")
    await visitor_says(visitor, "Size M please")
    await expect(agent.locator(".message-row.in .text", has_text="Size M please")).to_be_visible()


async def test_an_agents_card_button_clicked_by_the_visitor_raises_button_interacted(
    world: World,
) -> None:
    agent = await world.agent_page()
    visitor = await world.visitor_page()
    await visitor_says(visitor, "Can I pick it up?")
    await open_first_conversation(agent, "Can I pick it up?")
    await agent.click('.tab[data-mode="template"]')
    await agent.fill("#tpl-title", "Pickup")
    await agent.fill("#tpl-lines", "Ready tomorrow at 10")
    await agent.fill(".tpl-label", "Book a slot")
    await agent.fill(".tpl-value", "book-slot")
    await agent.click("#send")
    await expect(agent.locator(".message-row.out .card-title")).to_have_text("Pickup")

    button = visitor.locator('.ig-button[data-interaction-id="book-slot"]')
    await expect(button).to_be_visible()
    await button.click()
    event = await world.wait_for_event(
        "button_interacted", lambda body: body.get("interactionId") == "book-slot"
    )
    assert "anonymousVisitorId" in event["interactedBy"]


async def test_a_returning_visitor_gets_what_was_sent_while_away(world: World) -> None:
    agent = await world.agent_page()
    visitor = await world.visitor_page()
    await visitor_says(visitor, "I'll be back later")
    context = visitor.context
    await visitor.close()

    await open_first_conversation(agent, "I'll be back later")
    await agent.fill("#reply-text", "Your parcel has shipped!")
    await agent.press("#reply-text", "Enter")
    await expect(agent.locator(".message-row.out .text")).to_have_text("Your parcel has shipped!")

    returning = await context.new_page()
    renewals: list[str] = []
    returning.on(
        "request",
        lambda request: (
            renewals.append(request.post_data or "")
            if request.url.endswith("/sessions") and request.method == "POST"
            else None
        ),
    )
    await open_chat(returning, world.site_url)
    await expect(returning.locator(OUT, has_text="Your parcel has shipped!")).to_be_visible()
    # the widget renewed its token on load (expiry slides), keeping the same conversation
    assert any('"token"' in body for body in renewals), renewals


async def test_markup_from_a_visitor_is_shown_as_inert_text(world: World) -> None:
    payload = "<img src=x onerror=window.__xss=1>"
    agent = await world.agent_page()
    visitor = await world.visitor_page()
    await visitor_says(visitor, payload)
    await expect(agent.locator(".conversation-preview")).to_have_text(payload)
    await open_first_conversation(agent, payload)
    await expect(agent.locator(".message-row.in .text")).to_have_text(payload)
    assert await agent.locator(".message-row.in img").count() == 0
    assert await agent.evaluate("typeof window.__xss") == "undefined"
    assert await visitor.evaluate("typeof window.__xss") == "undefined"


async def test_an_internal_note_stays_out_of_the_widget(world: World) -> None:
    agent = await world.agent_page()
    visitor = await world.visitor_page()
    await visitor_says(visitor, "Hello")
    await open_first_conversation(agent, "Hello")
    await agent.click('.tab[data-mode="note"]')
    await agent.fill("#reply-text", "Loyal customer, offer free shipping")
    await agent.click("#send")
    await expect(agent.locator(".message-row.note .text")).to_have_text(
        "Loyal customer, offer free shipping"
    )
    await agent.click('.tab[data-mode="reply"]')
    await agent.fill("#reply-text", "Hi there!")
    await agent.click("#send")
    await expect(visitor.locator(OUT, has_text="Hi there!")).to_be_visible()
    await expect(visitor.locator(OUT, has_text="Loyal customer")).to_have_count(0)
