"""The example plug-in adapter, installed as a separate distribution, passes the harness."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest
from echo_adapter import EchoAdapter, EchoConfig
from pydantic import ValidationError

from channels import (
    NUMBER_PROMPT,
    Adapter,
    Button,
    CardPart,
    Choice,
    InboundMessage,
    Media,
    MediaPart,
    MessageContent,
    OutboundPart,
    PostbackProperties,
    Template,
    TextPart,
    WebhookRequest,
    render,
)
from channels.testing import (
    RecordingHost,
    SendCase,
    WebhookCase,
    check_duplicate_is_one_event,
    check_rejects_malformed,
    check_rejects_unsigned,
    check_secrets_not_logged,
    json_request,
    route_handler,
    run_send_cases,
    run_webhook_cases,
)

TOKEN = "echo-token-7f3a"


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    EchoAdapter.sent.clear()
    yield
    EchoAdapter.sent.clear()


def _adapter(token: str = TOKEN) -> tuple[EchoAdapter, RecordingHost]:
    host = RecordingHost(channel_id="mail")
    config = EchoConfig.model_validate({"type": "echo", "outbox_label": "out", "token": token})
    return EchoAdapter("mail", config, host), host


def _inbound(body: object, token: str | None = TOKEN) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Echo-Token": token} if token is not None else {}
    return json_request("/channels/mail/inbound", raw, headers=headers)


def _part(
    part: TextPart | MediaPart | CardPart, recipient: str = "ann@example.com"
) -> OutboundPart:
    return OutboundPart(part, recipient, message_id="msg-1", conversation_id="conv-1")


HELLO = {"id": "e-1", "from": "ann@example.com", "text": "Hello there"}


def test_the_installed_distribution_registers_the_echo_entry_point() -> None:
    found = {ep.name: ep for ep in entry_points(group="inbox_gateway.adapters")}
    assert "echo" in found
    adapter_class = found["echo"].load()
    assert adapter_class is EchoAdapter
    assert adapter_class.type == "echo"


def test_the_echo_adapter_is_an_adapter() -> None:
    adapter, _host = _adapter()
    assert isinstance(adapter, Adapter)


def test_config_names_a_missing_outbox_label_and_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError) as missing:
        EchoAdapter.Config.model_validate({"type": "echo"})
    assert missing.value.errors()[0]["loc"] == ("outbox_label",)
    with pytest.raises(ValidationError) as unknown:
        EchoAdapter.Config.model_validate({"type": "echo", "outbox_label": "x", "colour": "red"})
    assert unknown.value.errors()[0]["loc"] == ("colour",)


async def test_inbound_webhook_cases() -> None:
    adapter, host = _adapter()
    await run_webhook_cases(
        adapter,
        host,
        [
            WebhookCase(
                "a message",
                _inbound(HELLO),
                status=200,
                body_contains='"duplicate": false',
                event_types=[InboundMessage],
                check=lambda response, events: (
                    events[0].participant.address == "ann@example.com"
                    and events[0].content == MessageContent.of_text("Hello there")
                ),
            ),
            WebhookCase(
                "the same message again",
                _inbound(HELLO),
                body_contains='"duplicate": true',
                event_count=0,
            ),
            WebhookCase("no token", _inbound(HELLO, token=None), status=403, event_count=0),
            WebhookCase("not JSON", _inbound(b"hello"), status=400, event_count=0),
            WebhookCase("a list", _inbound([HELLO]), status=400, event_count=0),
            WebhookCase(
                "no text", _inbound({"id": "e-2", "from": "ann"}), status=400, event_count=0
            ),
            WebhookCase(
                "a number for text",
                _inbound({"id": "e-3", "from": "ann", "text": 5}),
                status=400,
                event_count=0,
            ),
        ],
    )
    assert len(host.stored_messages["ann@example.com"]) == 1


async def test_without_a_configured_token_any_request_is_taken() -> None:
    adapter, host = _adapter(token="")
    response = await adapter.inbound(_inbound(HELLO, token=None))
    assert response.status == 200 and len(host.events) == 1


async def test_generic_adapter_checks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    adapter, host = _adapter()
    handler = route_handler(adapter, "POST", "/channels/mail/inbound")
    await check_rejects_unsigned(handler, _inbound(HELLO, token=None), host)
    await check_rejects_unsigned(handler, _inbound(HELLO, token="echo-token-guess"), host)
    await check_rejects_malformed(handler, _inbound(b"\x00{"), host)
    await check_duplicate_is_one_event(handler, _inbound(HELLO), host)
    assert caplog.records, "the wrong-token path logs a warning, which must not hold the token"
    check_secrets_not_logged([TOKEN], caplog.records)


async def test_send_cases() -> None:
    adapter, _host = _adapter()
    await run_send_cases(
        adapter,
        [
            SendCase(
                "a text",
                _part(TextPart("Hi Ann")),
                check=lambda result: result.provider_message_id == "out-1",
            ),
            SendCase(
                "an attachment",
                _part(MediaPart(Media("https://x.example/a.png", "image"))),
                retryable=False,
                error_code="UNSUPPORTED_PART",
            ),
            SendCase("a card", _part(CardPart("Title")), retryable=False),
            SendCase("no recipient", _part(TextPart("Hi"), recipient=""), retryable=False),
        ],
    )
    assert [p.part for p in EchoAdapter.sent] == [TextPart("Hi Ann")]


async def test_every_rendered_part_of_any_message_is_sendable() -> None:
    """Capabilities of plain 50-character text turn cards and buttons into numbered text."""
    adapter, _host = _adapter()
    content = MessageContent(
        template=Template(
            title="Your table is booked for Friday evening at eight o'clock",
            text_lines=["Party of four"],
            image_url="https://img.example/table.png",
            buttons=[
                Button(
                    label="Confirm", postback_properties=PostbackProperties(interaction_id="ok")
                ),
                Button(label="Cancel", postback_properties=PostbackProperties(interaction_id="no")),
            ],
        )
    )
    rendered = render(content, adapter.capabilities)
    assert rendered.menu == (Choice("Confirm", "ok"), Choice("Cancel", "no"))
    for index, part in enumerate(rendered.parts):
        assert isinstance(part, TextPart) and len(part.text) <= 50
        await adapter.send(OutboundPart(part, "ann@example.com", "m", "c", index=index))
    sent = "\n".join(p.part.text for p in EchoAdapter.sent if isinstance(p.part, TextPart))
    assert "https://img.example/table.png" in sent
    assert "1) Confirm" in sent and "2) Cancel" in sent and NUMBER_PROMPT in sent
