"""Signed inbound media whose URL is not http(s) is kept as text: stored, never as a link."""

from __future__ import annotations

import pytest

from adapters.messenger.inbound import parse_event
from adapters.twilio.inbound import content_of
from channels import InboundMessage

HOSTILE = ("javascript:alert(1)", "data:image/png;base64,AAAA", "https://", "file:///etc/passwd")


@pytest.mark.parametrize("url", HOSTILE)
def test_a_twilio_media_url_of_another_scheme_is_stored_as_text(url: str) -> None:
    content = content_of(
        {"Body": "look", "NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"}
    )
    assert content.wire()["basic"]["items"] == [{"text": "look"}, {"text": url}]


def test_a_twilio_https_media_url_is_still_an_image() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    content = content_of({"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/jpeg"})
    assert content.wire()["basic"]["items"] == [{"image": {"url": url}}]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_messenger_attachment_url_of_another_scheme_is_stored_as_text(url: str) -> None:
    event = {
        "sender": {"id": "psid-1"},
        "recipient": {"id": "page"},
        "timestamp": 1_700_000_000_000,
        "message": {"mid": "m1", "attachments": [{"type": "image", "payload": {"url": url}}]},
    }
    [message] = parse_event(event)
    assert isinstance(message, InboundMessage)
    assert message.content.wire()["basic"]["items"] == [{"text": url}]
