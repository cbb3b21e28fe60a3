"""Every message type, rendered for Messenger's capabilities, is accepted by the Send API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.messenger import MessengerAdapter, MessengerConfig
from adapters.messenger.fake import FakeGraph
from channels import MessageContent, OutboundPart, render
from channels.testing import RecordingHost

LINK = {"label": "Details", "launchUrl": "https://shop.example.com/d"}
CONTENTS = {
    "long-text": {"basic": {"items": [{"text": "word " * 800}]}},
    "text-image-file": {
        "basic": {
            "items": [
                {"text": "Your receipt"},
                {"image": {"url": "https://shop.example.com/r.png"}},
                {"file": {"url": "https://shop.example.com/r.pdf", "mimeType": "application/pdf"}},
            ]
        }
    },
    "minimal": {"minimal": {"text": "New arrivals", "url": "https://shop.example.com/new"}},
    "template-many-buttons": {
        "template": {
            "title": "A very long card title that goes well past eighty characters in total " * 2,
            "textLines": ["Stoneware", "350 ml"],
            "imageUrl": "https://shop.example.com/mug.jpg",
            "buttons": [LINK, LINK]
            + [
                {
                    "label": f"Choice number {i} with a long label",
                    "postbackProperties": {"interactionId": f"c{i}"},
                }
                for i in range(6)
            ],
        }
    },
    "form": {"form": {"title": "Booking", "fields": [{"name": "Date", "value": "Friday"}]}},
}


@pytest.fixture
async def setup() -> AsyncIterator[tuple[MessengerAdapter, FakeGraph]]:
    fake = FakeGraph(access_token="t", app_secret="s")
    config = MessengerConfig(
        type="messenger",
        page_id="1",
        page_access_token="t",
        app_secret="s",
        verify_token="v",
        graph_base_url=await fake.start(),
    )
    adapter = MessengerAdapter("facebook", config, RecordingHost())
    await adapter.start()
    yield adapter, fake
    await adapter.stop()
    await fake.stop()


@pytest.mark.parametrize("name", sorted(CONTENTS))
async def test_rendered_parts_all_go_through(
    setup: tuple[MessengerAdapter, FakeGraph], name: str
) -> None:
    adapter, fake = setup
    rendered = render(MessageContent.model_validate(CONTENTS[name]), adapter.capabilities)
    assert rendered.menu == ()  # Messenger links replies to buttons natively
    for index, part in enumerate(rendered.parts):
        await adapter.send(
            OutboundPart(
                part=part, recipient="42", message_id="m", conversation_id="c", index=index
            )
        )
    assert len(fake.sent) == len(rendered.parts) == len(fake.attempts)
