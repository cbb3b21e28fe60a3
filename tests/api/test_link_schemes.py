"""Links through the API: only http, https, tel and mailto; stored ones of other schemes as text."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from channels import Direction
from channels.links import is_link_url
from gateway.domain.messages import append_message
from gateway.domain.participants import resolve_conversation
from gateway.store.models import MessageRow
from tests.api.conftest import Api

XSS = "javascript:alert(document.cookie)"

#: a hostile URL in each place content holds one, and the field a refusal names
HOSTILE_CONTENT = {
    "message.content.template.buttons.0.launchUrl": {
        "template": {"title": "Order", "buttons": [{"label": "Track", "launchUrl": XSS}]}
    },
    "message.content.minimal.url": {
        "minimal": {"text": "Pay", "url": "data:text/html,<script>alert(1)</script>"}
    },
    "message.content.minimal.iconUrl": {
        "minimal": {"text": "Pay", "iconUrl": "javascript:alert(1)"}
    },
    "message.content.basic.items.0.image.url": {
        "basic": {"items": [{"image": {"url": "data:image/svg+xml,<svg onload=alert(1)>"}}]}
    },
    "message.content.basic.items.0.file.url": {
        "basic": {"items": [{"file": {"url": "file:///etc/passwd"}}]}
    },
    "message.content.template.imageUrl": {
        "template": {"title": "Order", "imageUrl": "java\tscript:alert(1)"}
    },
    "message.content.form.media.0.image.url": {
        "form": {"fields": [{"name": "a", "value": "b"}], "media": [{"image": {"url": "tel:1"}}]}
    },
}
DISGUISED = (" javascript:alert(1)", "JAVASCRIPT:alert(1)", "javascript\n:x", "vbscript:x", "/x")


async def _conversation(api: Api) -> str:
    contact = await api.contact(("chat", "visitor-links"))
    return str((await api.conversation_of(contact["id"]))["id"])


async def _send(api: Api, conversation_id: str, content: Any, status: int) -> dict[str, Any]:
    body = {"conversationId": conversation_id, "message": {"content": content}}
    return await api.call("POST", "/inbox/v2/messages", json=body, status=status)


@pytest.mark.parametrize("field", list(HOSTILE_CONTENT))
async def test_a_url_of_another_scheme_is_refused_and_nothing_stored(api: Api, field: str) -> None:
    conversation_id = await _conversation(api)
    answer = await _send(api, conversation_id, HOSTILE_CONTENT[field], 400)
    violations = answer["details"]["validationError"]["fieldViolations"]
    assert [v["field"] for v in violations] == [field]
    assert "http" in violations[0]["description"]
    assert await api.count(MessageRow) == 0


@pytest.mark.parametrize("url", DISGUISED)
async def test_a_disguised_javascript_link_is_refused(api: Api, url: str) -> None:
    """Leading spaces, other cases, control characters and relative URLs are no links."""
    conversation_id = await _conversation(api)
    content = {"template": {"title": "T", "buttons": [{"label": "Go", "launchUrl": url}]}}
    await _send(api, conversation_id, content, 400)
    assert await api.count(MessageRow) == 0


async def test_http_https_tel_and_mailto_links_go_through(api: Api) -> None:
    conversation_id = await _conversation(api)
    buttons = [
        {"label": "Shop", "launchUrl": "https://shop.example/p/1"},
        {"label": "Old site", "launchUrl": "http://shop.example"},
        {"label": "Call", "launchUrl": "tel:+15550001111"},
        {"label": "Mail", "launchUrl": "mailto:help@shop.example"},
    ]
    content = {"template": {"title": "Help", "buttons": buttons}}
    message = (await _send(api, conversation_id, content, 200))["message"]
    assert message["content"]["template"]["buttons"] == buttons


#: a card as an older version stored it: a javascript: link beside a postback
STORED_CARD = {
    "template": {
        "title": "Your order",
        "imageUrl": "data:image/svg+xml,<svg onload=alert(1)>",
        "buttons": [
            {"label": "Track", "launchUrl": XSS},
            {"label": "Help", "postbackProperties": {"interactionId": "help"}},
        ],
    },
    "previewText": "Your order",
}


async def _store_old_card(api: Api, conversation_id: str) -> str:
    def write(session: Session) -> str:
        conversation = resolve_conversation(session, conversation_id)
        assert conversation is not None
        row = append_message(
            session,
            conversation,
            content=STORED_CARD,
            sender=("appId", "crm"),
            direction=Direction.BUSINESS_TO_PARTICIPANT,
        )
        return row.id

    return await api.gateway.db.write(write)


def assert_no_refused_link(content: dict[str, Any]) -> None:
    template = content["template"]
    assert "imageUrl" not in template
    assert template["buttons"] == [
        {"label": "Help", "postbackProperties": {"interactionId": "help"}}
    ]
    assert template["textLines"] == ["data:image/svg+xml,<svg onload=alert(1)>", f"Track: {XSS}"]
    for button in template["buttons"]:
        assert "launchUrl" not in button or is_link_url(button["launchUrl"])


async def test_a_stored_javascript_link_is_handed_out_as_text(api: Api) -> None:
    """A card stored before the rule: get and list show its link and image as text lines."""
    conversation_id = await _conversation(api)
    message_id = await _store_old_card(api, conversation_id)
    one = await api.call("GET", f"/inbox/v2/messages/{message_id}")
    assert_no_refused_link(one["message"]["content"])
    listed = await api.call(
        "GET",
        "/inbox/v2/messages",
        params={"conversationId": conversation_id, "visibility": "BUSINESS"},
    )
    [message] = listed["messages"]
    assert_no_refused_link(message["content"])
