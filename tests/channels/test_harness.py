"""The public adapter harness passes a well-behaved adapter and catches misbehaving ones."""

from __future__ import annotations

import builtins
import hmac
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from channels import (
    Capabilities,
    ChannelConfig,
    ChannelType,
    InboundEvent,
    InboundMessage,
    MessageContent,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    StatusUpdate,
    TextPart,
    WebhookRequest,
    WebhookResponse,
)
from channels.testing import (
    RecordingHost,
    SendCase,
    WebhookCase,
    check_duplicate_is_one_event,
    check_rejects_malformed,
    check_rejects_unsigned,
    check_secrets_not_logged,
    check_webhook_case,
    json_request,
    route_handler,
    run_send_cases,
    run_webhook_cases,
)

SECRET = "s3cr3t-token-value"
log = logging.getLogger("tiny_adapter")


class TinyConfig(ChannelConfig):
    token: str


class TinyAdapter:
    """A toy transport: JSON `{"id", "from", "text"}` or `{"status", "ref"}` with a token header.

    Its `faults` switch on one misbehaviour each, to prove the harness notices.
    """

    type: ClassVar[str] = "tiny"
    channel_type: ClassVar[ChannelType] = ChannelType.EMAIL
    Config: ClassVar[builtins.type[ChannelConfig]] = TinyConfig
    default_rate_per_second: ClassVar[float | None] = None

    def __init__(self, config: TinyConfig, host: RecordingHost, faults: Sequence[str] = ()) -> None:
        self.config, self.host, self.faults = config, host, set(faults)
        self.counter = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(text_limit=100)

    def routes(self) -> Sequence[Route]:
        return [Route("POST", "inbound", self.inbound)]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def lookup_profile(self, address: str) -> Participant | None:
        return None

    async def inbound(self, request: WebhookRequest) -> WebhookResponse:
        if "log-secret" in self.faults:
            log.info("checking token %s", self.config.token)
        given = request.header("x-token") or ""
        if "accept-unsigned" not in self.faults and not hmac.compare_digest(
            given, self.config.token
        ):
            return WebhookResponse.error(403, "bad token")
        try:
            data = json.loads(request.body)
            events: list[InboundEvent]
            if "status" in data:
                events = [StatusUpdate(status=data["status"], provider_message_id=data["ref"])]
            else:
                self.counter += 1
                message_id = (
                    f"{data['id']}-{self.counter}" if "unstable-id" in self.faults else (data["id"])
                )
                events = [
                    InboundMessage(
                        provider_message_id=message_id,
                        participant=Participant(address=data["from"]),
                        content=MessageContent.of_text(data["text"]),
                        occurred_at=datetime.now(UTC),
                    )
                ]
        except (ValueError, KeyError, TypeError) as exc:
            if "crash-on-malformed" in self.faults:
                return WebhookResponse.error(500, "oops")
            log.info("malformed body: %s", exc)
            return WebhookResponse.error(400, "malformed body")
        await self.host.ingest(events)
        return WebhookResponse.json({"ok": True})

    async def send(self, part: OutboundPart) -> SendResult:
        if part.recipient == "busy":
            raise SendError("try later", code="BUSY", retryable=True, retry_after=5)
        if part.recipient == "nobody":
            raise SendError("no such address", code="NO_SUCH_ADDRESS")
        return SendResult(provider_message_id=f"tiny-{part.message_id}-{part.index}")


def _adapter(*faults: str) -> tuple[TinyAdapter, RecordingHost]:
    host = RecordingHost(channel_id="tiny")
    return TinyAdapter(TinyConfig(type="tiny", token=SECRET), host, faults), host


def _request(body: object, token: str | None = SECRET) -> WebhookRequest:
    headers = {"X-Token": token} if token is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return json_request("/channels/tiny/inbound", raw, headers=headers)


MESSAGE = {"id": "m1", "from": "ann@example.com", "text": "hello"}

CASES = [
    WebhookCase(
        "a message is stored",
        _request(MESSAGE),
        status=200,
        body_contains='"ok"',
        event_types=[InboundMessage],
        check=lambda response, events: events[0].content.basic.items[0].text == "hello",
    ),
    WebhookCase("a status update", _request({"status": "DELIVERED", "ref": "x"}), event_count=1),
    WebhookCase("no token", _request(MESSAGE, token=None), status=403, event_count=0),
    WebhookCase("wrong token", _request(MESSAGE, token="guess"), status=403, event_count=0),
    WebhookCase("not json", _request(b"{nope"), status=400, event_count=0),
]


async def test_webhook_cases_pass_for_a_well_behaved_adapter() -> None:
    adapter, host = _adapter()
    await run_webhook_cases(adapter, host, CASES)
    assert [type(e) for e in host.events] == [InboundMessage, StatusUpdate]


async def test_webhook_runner_names_every_failed_case() -> None:
    adapter, host = _adapter("accept-unsigned")
    with pytest.raises(AssertionError) as failure:
        await run_webhook_cases(adapter, host, CASES)
    report = str(failure.value)
    assert "2 case(s) failed" in report
    assert "'no token'" in report and "'wrong token'" in report
    assert "status 200, expected 403" in report


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        (WebhookCase("s", _request(MESSAGE), status=202), "status 200, expected 202"),
        (WebhookCase("b", _request(MESSAGE), body_contains="thanks"), "lacks 'thanks'"),
        (WebhookCase("t", _request(MESSAGE), event_types=[StatusUpdate]), "expected ['Status"),
        (WebhookCase("n", _request(MESSAGE), event_count=2), "1 events, expected 2"),
        (WebhookCase("c", _request(MESSAGE), check=lambda r, e: False), "check returned False"),
    ],
)
async def test_each_expectation_of_a_webhook_case_is_checked(
    case: WebhookCase, complaint: str
) -> None:
    adapter, host = _adapter()
    with pytest.raises(AssertionError, match="webhook case") as failure:
        await check_webhook_case(adapter, host, case)
    assert complaint in str(failure.value)


async def test_route_handler_finds_routes_by_relative_or_mounted_path() -> None:
    adapter, _host = _adapter()
    assert route_handler(adapter, "POST", "inbound") == adapter.inbound
    assert route_handler(adapter, "post", "/channels/tiny/inbound?x=1") == adapter.inbound
    with pytest.raises(AssertionError, match="no GET route"):
        route_handler(adapter, "GET", "inbound")


SEND_CASES = [
    SendCase(
        "a text is sent",
        OutboundPart(TextPart("hi"), "ann@example.com", "msg-1", "conv-1"),
        check=lambda result: result.provider_message_id == "tiny-msg-1-0",
    ),
    SendCase(
        "a busy provider is retried",
        OutboundPart(TextPart("hi"), "busy", "m", "c"),
        retryable=True,
        error_code="BUSY",
    ),
    SendCase(
        "an unknown address is not",
        OutboundPart(TextPart("hi"), "nobody", "m", "c"),
        retryable=False,
    ),
]


async def test_send_cases_pass_for_a_well_behaved_adapter() -> None:
    adapter, _host = _adapter()
    await run_send_cases(adapter, SEND_CASES)


async def test_send_runner_reports_wrong_classification_and_unexpected_success() -> None:
    adapter, _host = _adapter()
    cases = [
        SendCase(
            "expects retryable", OutboundPart(TextPart("hi"), "nobody", "m", "c"), retryable=True
        ),
        SendCase("expects failure", OutboundPart(TextPart("hi"), "ann", "m", "c"), retryable=False),
        SendCase("expects success", OutboundPart(TextPart("hi"), "busy", "m", "c")),
        SendCase(
            "wrong id",
            OutboundPart(TextPart("hi"), "ann", "m", "c"),
            check=lambda result: result.provider_message_id == "other",
        ),
    ]
    with pytest.raises(AssertionError) as failure:
        await run_send_cases(adapter, cases)
    report = str(failure.value)
    assert "4 case(s) failed" in report
    assert "retryable=False, expected True" in report
    assert "expected a SendError with retryable=False" in report
    assert "unexpected BUSY: try later" in report
    assert "'wrong id': check returned False" in report


async def test_generic_checks_pass_for_a_well_behaved_adapter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter, host = _adapter()
    handler = route_handler(adapter, "POST", "inbound")
    await check_rejects_unsigned(handler, _request(MESSAGE, token=None), host)
    await check_rejects_unsigned(handler, _request(MESSAGE, token="guess"), host)
    await check_rejects_malformed(handler, _request({"id": "m2"}), host)
    await check_duplicate_is_one_event(handler, _request(MESSAGE), host)
    check_secrets_not_logged([SECRET], caplog.records)
    check_secrets_not_logged([SECRET], caplog.text)


async def test_unsigned_check_catches_an_adapter_that_accepts_anything() -> None:
    adapter, host = _adapter("accept-unsigned")
    with pytest.raises(AssertionError, match="unsigned request: answered 200"):
        await check_rejects_unsigned(adapter.inbound, _request(MESSAGE, token=None), host)


async def test_malformed_check_wants_a_4xx_not_a_5xx() -> None:
    adapter, host = _adapter("crash-on-malformed")
    with pytest.raises(AssertionError, match="malformed request: answered 500"):
        await check_rejects_malformed(adapter.inbound, _request(b"\xff\xfe"), host)


async def test_refusal_checks_catch_events_handed_over_despite_a_4xx() -> None:
    class Leaky(TinyAdapter):
        async def inbound(self, request: WebhookRequest) -> WebhookResponse:
            await super().inbound(replace(request, headers={"x-token": SECRET}))
            return WebhookResponse.error(403, "bad token")

    host = RecordingHost()
    adapter = Leaky(TinyConfig(type="tiny", token=SECRET), host)
    with pytest.raises(AssertionError, match="handed the host events"):
        await check_rejects_unsigned(adapter.inbound, _request(MESSAGE, token=None), host)


async def test_duplicate_check_catches_an_unstable_message_id() -> None:
    adapter, host = _adapter("unstable-id")
    with pytest.raises(AssertionError, match="second delivery stored another message"):
        await check_duplicate_is_one_event(adapter.inbound, _request(MESSAGE), host)


async def test_duplicate_check_wants_the_first_delivery_stored() -> None:
    adapter, host = _adapter()
    with pytest.raises(AssertionError, match="first delivery stored no message"):
        await check_duplicate_is_one_event(
            adapter.inbound, _request({"status": "READ", "ref": "x"}), host
        )


async def test_secrets_check_catches_a_logged_token_without_repeating_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    adapter, _host = _adapter("log-secret")
    await adapter.inbound(_request(MESSAGE))
    with pytest.raises(AssertionError) as failure:
        check_secrets_not_logged(["unrelated", SECRET], caplog.records)
    assert "[1]" in str(failure.value) and SECRET not in str(failure.value)
    with pytest.raises(AssertionError):
        check_secrets_not_logged([SECRET], caplog.text)


def test_secrets_check_finds_secrets_in_tracebacks() -> None:
    try:
        raise RuntimeError(f"request to https://api.example/?key={SECRET} failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "send failed", None, None)
        record.exc_info = sys.exc_info()
    with pytest.raises(AssertionError):
        check_secrets_not_logged([SECRET], [record])
    check_secrets_not_logged(["", "absent"], [record])
