"""The public adapter harness passes a well-behaved adapter and says exactly what a misbehaving
one got wrong."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from channels import (
    InboundMessage,
    MessageContent,
    OutboundPart,
    Participant,
    StatusUpdate,
    TextPart,
    UnstorableText,
    WebhookRequest,
)
from channels import WebhookResponse as Response
from channels.testing import (
    RecordingHost,
    SendCase,
    WebhookCase,
    case_id,
    check_duplicate_is_one_event,
    check_rejects_malformed,
    check_rejects_unsigned,
    check_secrets_not_logged,
    check_webhook_case,
    parametrize_cases,
    route_handler,
    run_send_cases,
    run_webhook_cases,
)
from tests.channels.tiny_adapter import MESSAGE, SECRET, TinyAdapter, TinyConfig, make, request

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
CASES = [
    WebhookCase(
        "a message is stored",
        request(MESSAGE),
        status=200,
        body_contains='"ok"',
        content_type="application/json",
        event_types=[InboundMessage],
        check=lambda response, events: events[0].content.basic.items[0].text == "hello",
    ),
    WebhookCase(
        "a status update",
        request({"status": "DELIVERED", "ref": "x"}),
        events=[StatusUpdate(status="DELIVERED", provider_message_id="x")],  # type: ignore[arg-type]
    ),
    WebhookCase("no token", request(MESSAGE, token=None), status=403, event_count=0),
    WebhookCase("wrong token", request(MESSAGE, token="guess"), status=403, event_count=0),
    WebhookCase("not json", request(b"{nope"), status=400, event_count=0),
]


async def test_webhook_cases_pass_for_a_well_behaved_adapter() -> None:
    adapter, host = make()
    await run_webhook_cases(adapter, host, CASES)
    assert [type(e) for e in host.events] == [InboundMessage, StatusUpdate]


@parametrize_cases(CASES)
async def test_a_case_table_parametrises_one_test_per_case(case: WebhookCase) -> None:
    adapter, host = make()
    await check_webhook_case(adapter, host, case)


def test_case_tables_are_named_by_their_cases_and_names_must_be_unique() -> None:
    mark = parametrize_cases(CASES)
    assert [param.id for param in mark.args[1]] == [case.name for case in CASES]
    assert case_id(CASES[0]) == "a message is stored"
    with pytest.raises(ValueError, match="repeated: \\['no token'\\]"):
        parametrize_cases([*CASES, CASES[2]])


async def test_webhook_runner_names_every_failed_case() -> None:
    adapter, host = make("accept-unsigned")
    with pytest.raises(AssertionError) as failure:
        await run_webhook_cases(adapter, host, CASES)
    report = str(failure.value)
    assert "2 case(s) failed" in report
    assert "'no token'" in report and "'wrong token'" in report
    assert "status 200, expected 403 (body '{\"ok\": true}')" in report


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        (WebhookCase("s", request(MESSAGE), status=202), "status 200, expected 202"),
        (WebhookCase("b", request(MESSAGE), body_contains="thanks"), "lacks 'thanks'"),
        (
            WebhookCase("ct", request(MESSAGE), content_type="text/xml"),
            "content type 'application/json', expected 'text/xml'",
        ),
        (
            WebhookCase("h", request(MESSAGE), headers={"Vary": "Origin"}),
            "header Vary is None, expected 'Origin'",
        ),
        (WebhookCase("t", request(MESSAGE), event_types=[StatusUpdate]), "expected ['Status"),
        (
            WebhookCase("e", request({"status": "READ", "ref": "y"}), events=[]),
            "1 events, expected 0",
        ),
        (
            WebhookCase(
                "e2",
                request({"status": "READ", "ref": "y"}),
                events=[StatusUpdate(status="READ", provider_message_id="z")],  # type: ignore[arg-type]
            ),
            "event 1: StatusUpdate(",
        ),
        (WebhookCase("n", request(MESSAGE), event_count=2), "1 events, expected 2"),
        (WebhookCase("c", request(MESSAGE), check=lambda r, e: False), "check returned False"),
        (
            WebhookCase("x", request(MESSAGE), check=lambda r, e: e[5]),
            "check raised IndexError: list index out of range",
        ),
    ],
    ids=case_id,
)
async def test_each_expectation_of_a_webhook_case_is_checked(
    case: WebhookCase, complaint: str
) -> None:
    adapter, host = make()
    with pytest.raises(AssertionError, match="webhook case") as failure:
        await check_webhook_case(adapter, host, case)
    assert complaint in str(failure.value)


async def test_a_crashing_handler_is_reported_as_the_500_it_would_be() -> None:
    class Crashing(TinyAdapter):
        async def inbound(self, request: WebhookRequest) -> Response:
            raise KeyError("From")

    host = RecordingHost()
    adapter = Crashing(TinyConfig(type="tiny", token=SECRET), host)
    with pytest.raises(AssertionError) as failure:
        await check_webhook_case(adapter, host, WebhookCase("crash", request(MESSAGE)))
    assert "the handler raised KeyError: 'From' (the gateway would answer 500)" in str(
        failure.value
    )


async def test_the_recording_host_refuses_unstorable_text_as_the_gateway_does() -> None:
    """The gateway answers 400 INVALID_BODY and stores nothing; so does the harness."""
    adapter, host = make()
    case = WebhookCase(
        "unstorable",
        request({"id": "m9", "from": "ann@example.com", "text": "nul \x00 inside"}),
        status=400,
        body_contains="INVALID_BODY",
        event_count=0,
    )
    await check_webhook_case(adapter, host, case)
    assert host.stored_messages == {}


@pytest.mark.parametrize("address", ["ann\x00", "ann\ud800"])
async def test_ingest_refuses_the_whole_batch_when_one_event_is_unstorable(address: str) -> None:
    host = RecordingHost()
    good = InboundMessage("m1", Participant("bob"), MessageContent.of_text("hi"), NOW)
    bad = InboundMessage("m2", Participant(address), MessageContent.of_text("hi"), NOW)
    with pytest.raises(UnstorableText):
        await host.ingest([good, bad])
    assert host.events == [] and host.stored_messages == {}


async def test_route_handler_finds_routes_by_relative_or_mounted_path() -> None:
    adapter, _host = make()
    assert route_handler(adapter, "POST", "inbound") == adapter.inbound
    assert route_handler(adapter, "post", "/channels/tiny/inbound?x=1") == adapter.inbound
    with pytest.raises(AssertionError, match="no GET route for 'inbound' \\(it has: POST inbound"):
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
    adapter, _host = make()
    await run_send_cases(adapter, SEND_CASES)


async def test_send_runner_reports_wrong_classification_and_unexpected_success() -> None:
    adapter, _host = make()
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
    assert "unexpected SendError 'BUSY' (retryable=True): try later" in report
    assert "'wrong id': check returned False" in report


async def test_a_send_that_raises_anything_but_a_send_error_is_reported() -> None:
    class Careless(TinyAdapter):
        async def send(self, part: OutboundPart) -> object:  # type: ignore[override]
            raise ValueError("no recipient")

    adapter = Careless(TinyConfig(type="tiny", token=SECRET), RecordingHost())
    with pytest.raises(AssertionError, match="raised ValueError: no recipient; an adapter raises"):
        await run_send_cases(adapter, [SendCase("careless", SEND_CASES[0].part)])


async def test_generic_checks_pass_for_a_well_behaved_adapter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter, host = make()
    handler = route_handler(adapter, "POST", "inbound")
    await check_rejects_unsigned(handler, request(MESSAGE, token=None), host)
    await check_rejects_unsigned(handler, request(MESSAGE, token="guess"), host)
    await check_rejects_malformed(handler, request({"id": "m2"}), host)
    await check_duplicate_is_one_event(handler, request(MESSAGE), host)
    check_secrets_not_logged([SECRET], caplog.records)
    check_secrets_not_logged([SECRET], caplog.text)


async def test_unsigned_check_catches_an_adapter_that_accepts_anything() -> None:
    adapter, host = make("accept-unsigned")
    with pytest.raises(AssertionError, match="unsigned request: answered 200"):
        await check_rejects_unsigned(adapter.inbound, request(MESSAGE, token=None), host)


async def test_malformed_check_wants_a_4xx_not_a_5xx() -> None:
    adapter, host = make("crash-on-malformed")
    with pytest.raises(AssertionError, match="malformed request: answered 500"):
        await check_rejects_malformed(adapter.inbound, request(b"\xff\xfe"), host)


async def test_refusal_checks_catch_events_handed_over_despite_a_4xx() -> None:
    class Leaky(TinyAdapter):
        async def inbound(self, request: WebhookRequest) -> Response:
            await super().inbound(replace(request, headers={"x-token": SECRET}))
            return Response.error(403, "bad token")

    host = RecordingHost()
    adapter = Leaky(TinyConfig(type="tiny", token=SECRET), host)
    with pytest.raises(AssertionError, match="handed the host events"):
        await check_rejects_unsigned(adapter.inbound, request(MESSAGE, token=None), host)


async def test_refusal_checks_count_sessions_opened_too() -> None:
    class Opener(TinyAdapter):
        async def inbound(self, request: WebhookRequest) -> Response:
            await self.host.open_session(Participant(address="ann"))
            return Response.error(403, "bad token")

    host = RecordingHost()
    adapter = Opener(TinyConfig(type="tiny", token=SECRET), host)
    with pytest.raises(AssertionError, match="handed the host events"):
        await check_rejects_unsigned(adapter.inbound, request(MESSAGE, token=None), host)


async def test_duplicate_check_catches_an_unstable_message_id() -> None:
    adapter, host = make("unstable-id")
    with pytest.raises(AssertionError, match="second delivery stored another message"):
        await check_duplicate_is_one_event(adapter.inbound, request(MESSAGE), host)


async def test_duplicate_check_wants_the_first_delivery_stored() -> None:
    adapter, host = make()
    with pytest.raises(AssertionError, match="first delivery stored no message"):
        await check_duplicate_is_one_event(
            adapter.inbound, request({"status": "READ", "ref": "x"}), host
        )


async def test_secrets_check_catches_a_logged_token_without_repeating_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    adapter, _host = make("log-secret")
    await adapter.inbound(request(MESSAGE))
    with pytest.raises(AssertionError) as failure:
        check_secrets_not_logged(["unrelated", SECRET], caplog.records)
    assert "number 1 in logger 'tiny_adapter'" in str(failure.value)
    assert SECRET not in str(failure.value)
    with pytest.raises(AssertionError):
        check_secrets_not_logged([SECRET], caplog.text)


def test_secrets_check_finds_secrets_in_tracebacks_and_urls() -> None:
    try:
        raise RuntimeError(f"request to https://api.example/?key={SECRET} failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "send failed", None, None)
        record.exc_info = sys.exc_info()
    with pytest.raises(AssertionError):
        check_secrets_not_logged([SECRET], [record])
    check_secrets_not_logged(["", "absent"], [record])
    with pytest.raises(AssertionError):
        check_secrets_not_logged(["a b/c"], "GET /people?token=a+b%2Fc")
