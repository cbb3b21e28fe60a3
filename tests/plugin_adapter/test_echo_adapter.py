"""The example plug-in adapter, installed as a separate distribution, tests itself with the public
harness the way the built-ins do: case tables, a loopback fake of its provider, and the checks
every adapter must pass."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib.metadata import entry_points

import pytest
from aiohttp import web
from echo_adapter import EchoAdapter, EchoConfig
from pydantic import ValidationError

from channels import (
    NUMBER_PROMPT,
    Adapter,
    Button,
    CardPart,
    Choice,
    InboundEvent,
    InboundMessage,
    Media,
    MediaPart,
    MessageContent,
    OptChange,
    OutboundPart,
    PostbackProperties,
    Template,
    TextPart,
    WebhookRequest,
    WebhookResponse,
    render,
)
from channels.testing import (
    AdapterKit,
    CannedResponse,
    ExpectedRequest,
    ProviderRequest,
    RecordingHost,
    SendCase,
    WebhookCase,
    check_send_case,
    check_webhook_case,
    json_request,
    parametrize_cases,
    universal_tests,
)

TOKEN = "echo-token-7f3a"
OUTBOX_KEY = "echo-outbox-key-91c2"


class FakeOutbox:
    """A loopback fake of the echo provider's API, as a plug-in would write one for its own."""

    def __init__(self) -> None:
        self.base_url = ""
        self.received: list[ProviderRequest] = []
        self.canned: list[CannedResponse] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/outbox", self._outbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _outbox(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.read()
        self.received.append(ProviderRequest(request.method, request.path, {}, headers, body))
        if self.canned:
            canned = self.canned.pop(0)
            return web.Response(
                status=canned.status,
                body=canned.body(),
                content_type=canned.content_type,
                headers=canned.headers,
            )
        if headers.get("authorization") != f"Bearer {OUTBOX_KEY}":
            return web.json_response({"error": "who are you?"}, status=401)
        return web.json_response({"accepted": True}, status=201)


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    EchoAdapter.sent.clear()
    yield
    EchoAdapter.sent.clear()


def host() -> RecordingHost:
    return RecordingHost(channel_id="mail")


def build(recording: RecordingHost, outbox: str | None = None, token: str = TOKEN) -> EchoAdapter:
    settings = {"type": "echo", "outbox_label": "out", "token": token, "outbox_key": OUTBOX_KEY}
    if outbox is not None:
        settings["outbox_url"] = outbox + "/outbox"
    return EchoAdapter("mail", EchoConfig.model_validate(settings), recording)


def inbound(body: object, token: str | None = TOKEN) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Echo-Token": token} if token is not None else {}
    return json_request("/channels/mail/inbound", raw, headers=headers)


def out(part: TextPart | MediaPart | CardPart, recipient: str = "ann@example.com") -> OutboundPart:
    return OutboundPart(part, recipient, message_id="msg-1", conversation_id="conv-1")


HELLO = {"id": "e-1", "from": "ann@example.com", "text": "Hello there"}

# --- the checks every adapter must pass -------------------------------------------------

KIT = AdapterKit(
    name="echo",
    build=build,
    secrets=[TOKEN, OUTBOX_KEY],
    message=inbound(HELLO),
    unsigned=[inbound(HELLO, token=None), inbound(HELLO, token="echo-token-guess")],
    malformed=[inbound(b"\x00{"), inbound([HELLO]), inbound({"id": "e-2", "from": "ann"})],
    sends=[
        SendCase("a text", out(TextPart("Hi Ann"))),
        SendCase(
            "an outbox outage", out(TextPart("Hi")), responses=[CannedResponse(503)], retryable=True
        ),
    ],
    profile_address="ann@example.com",
    provider=FakeOutbox,
    host=host,
)

test_universal = universal_tests(KIT)

# --- inbound: a case table -------------------------------------------------------------


def opt_change(opted_out: bool) -> Callable[[WebhookResponse, Sequence[InboundEvent]], bool]:
    def check(response: WebhookResponse, events: Sequence[InboundEvent]) -> bool:
        change = events[1]
        return isinstance(change, OptChange) and change.opted_out is opted_out

    return check


INBOUND = [
    WebhookCase(
        "a message",
        inbound(HELLO),
        body_contains='"duplicate": false',
        event_types=[InboundMessage],
        check=lambda response, events: (
            events[0].participant.address == "ann@example.com"
            and events[0].content == MessageContent.of_text("Hello there")
        ),
    ),
    WebhookCase(
        "a phone number is named as people write it",
        inbound({"id": "e-4", "from": "+15550002222", "text": "Hi"}),
        check=lambda response, events: events[0].participant.display_name == "+1 555-000-2222",
    ),
    WebhookCase(
        "STOP is stored and opts the sender out",
        inbound({"id": "e-5", "from": "+15550002222", "text": " stop "}),
        event_types=[InboundMessage, OptChange],
        check=opt_change(True),
    ),
    WebhookCase(
        "START opts them back in",
        inbound({"id": "e-6", "from": "+15550002222", "text": "START"}),
        event_types=[InboundMessage, OptChange],
        check=opt_change(False),
    ),
    WebhookCase("no token", inbound(HELLO, token=None), status=403, event_count=0),
    WebhookCase("not JSON", inbound(b"hello"), status=400, event_count=0),
    WebhookCase("a list", inbound([HELLO]), status=400, event_count=0),
    WebhookCase("no text", inbound({"id": "e-2", "from": "ann"}), status=400, event_count=0),
    WebhookCase(
        "a number for text",
        inbound({"id": "e-3", "from": "ann", "text": 5}),
        status=400,
        event_count=0,
    ),
    WebhookCase(
        "a NUL character is refused by the host, as the gateway refuses it",
        inbound({"id": "e-7", "from": "ann", "text": "nul \x00"}),
        status=400,
        event_count=0,
    ),
]


@parametrize_cases(INBOUND)
async def test_inbound(case: WebhookCase) -> None:
    recording = host()
    await check_webhook_case(build(recording), recording, case)


async def test_the_same_message_twice_is_answered_as_a_duplicate() -> None:
    recording = host()
    echo = build(recording)
    await check_webhook_case(echo, recording, WebhookCase("first", inbound(HELLO)))
    again = WebhookCase("again", inbound(HELLO), body_contains='"duplicate": true', event_count=0)
    await check_webhook_case(echo, recording, again)


async def test_without_a_configured_token_any_request_is_taken() -> None:
    recording = host()
    case = WebhookCase("no token needed", inbound(HELLO, token=None), event_count=1)
    await check_webhook_case(build(recording, token=""), recording, case)


# --- sends: a case table against the loopback outbox ----------------------------------

POSTED = ExpectedRequest("POST", "/outbox", {"id": "out-1", "to": "ann@example.com", "text": "Hi"})

SENDS = [
    SendCase(
        "a text is kept and posted to the outbox",
        out(TextPart("Hi")),
        requests=[POSTED],
        check=lambda result: result.provider_message_id == "out-1",
    ),
    SendCase(
        "a busy outbox is retried after the delay it asks",
        out(TextPart("Hi")),
        responses=[CannedResponse(429, headers={"Retry-After": "5"})],
        retryable=True,
        check=lambda error: error.retry_after == 5,
    ),
    SendCase(
        "an outbox refusal is final",
        out(TextPart("Hi")),
        responses=[CannedResponse(400)],
        retryable=False,
    ),
    SendCase(
        "an attachment is refused without a request",
        out(MediaPart(Media("https://x.example/a.png", "image"))),
        requests=[],
        retryable=False,
        error_code="UNSUPPORTED_PART",
    ),
    SendCase("a card is refused", out(CardPart("Title")), requests=[], retryable=False),
    SendCase("no recipient", out(TextPart("Hi"), recipient=""), requests=[], retryable=False),
]


@pytest.fixture
async def outbox() -> AsyncIterator[FakeOutbox]:
    fake = FakeOutbox()
    await fake.start()
    yield fake
    await fake.stop()


@parametrize_cases(SENDS)
async def test_send(case: SendCase, outbox: FakeOutbox) -> None:
    echo = build(host(), outbox.base_url)
    await echo.start()
    try:
        await check_send_case(echo, case, outbox)
    finally:
        await echo.stop()


# --- registration, configuration and rendering -----------------------------------------


def test_the_installed_distribution_registers_the_echo_entry_point() -> None:
    found = {ep.name: ep for ep in entry_points(group="inbox_gateway.adapters")}
    assert "echo" in found
    adapter_class = found["echo"].load()
    assert adapter_class is EchoAdapter
    assert adapter_class.type == "echo"


def test_the_echo_adapter_is_an_adapter() -> None:
    assert isinstance(build(host()), Adapter)


def test_config_names_a_missing_outbox_label_and_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError) as missing:
        EchoAdapter.Config.model_validate({"type": "echo"})
    assert missing.value.errors()[0]["loc"] == ("outbox_label",)
    with pytest.raises(ValidationError) as unknown:
        EchoAdapter.Config.model_validate({"type": "echo", "outbox_label": "x", "colour": "red"})
    assert unknown.value.errors()[0]["loc"] == ("colour",)


async def test_every_rendered_part_of_any_message_is_sendable() -> None:
    """Capabilities of plain 50-character text turn cards and buttons into numbered text."""
    echo = build(host())
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
    rendered = render(content, echo.capabilities)
    assert rendered.menu == (Choice("Confirm", "ok"), Choice("Cancel", "no"))
    for index, part in enumerate(rendered.parts):
        assert isinstance(part, TextPart) and len(part.text) <= 50
        await echo.send(OutboundPart(part, "ann@example.com", "m", "c", index=index))
    sent = "\n".join(p.part.text for p in EchoAdapter.sent if isinstance(p.part, TextPart))
    assert "https://img.example/table.png" in sent
    assert "1) Confirm" in sent and "2) Cancel" in sent and NUMBER_PROMPT in sent
