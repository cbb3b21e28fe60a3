"""Send cases say what the provider answers and which requests the adapter must make."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from channels.testing import (
    CannedResponse,
    ExpectedRequest,
    ProviderRequest,
    SendCase,
    check_send_case,
    run_send_cases,
)
from tests.channels.tiny_adapter import SECRET, TinyAdapter, TinyProvider, make, part

FORM = ProviderRequest(
    "POST",
    "/2010-04-01/Accounts/AC1/Messages.json",
    headers={"content-type": "application/x-www-form-urlencoded"},
    body=b"To=%2B15550002222&Body=Hi&MediaUrl=a&MediaUrl=b&message=%7B%22text%22%3A+%22Hi%22%7D",
)
JSON = ProviderRequest(
    "POST",
    "/v24.0/me/messages",
    query={"access_token": "t"},
    headers={"content-type": "application/json"},
    body=json.dumps({"recipient": {"id": "42"}, "message": {"text": "Hi"}}).encode(),
)


@pytest.mark.parametrize(
    ("expected", "request_", "problems"),
    [
        (
            ExpectedRequest(
                "POST",
                "/2010-04-01/Accounts/AC1/Messages.json",
                fields={"To": "+15550002222", "MediaUrl": ["a", "b"], "message": {"text": "Hi"}},
                absent=["From"],
            ),
            FORM,
            [],
        ),
        (
            ExpectedRequest("post", "/v24.0/me/messages", {"recipient": {"id": "42"}}),
            JSON,
            [],
        ),
        (ExpectedRequest("POST", "/v24.0/me/messages", {"access_token": "t"}), JSON, []),
        (
            ExpectedRequest("GET", "/other", {"Body": "Bye", "From": "+1"}, absent=["To"]),
            FORM,
            [
                "POST /2010-04-01/Accounts/AC1/Messages.json, expected GET /other",
                "field 'Body' is 'Hi', expected 'Bye'",
                "no field 'From'",
                "field 'To' was sent",
            ],
        ),
        (
            ExpectedRequest("POST", FORM.path, {"MediaUrl": "a"}),
            FORM,
            ["field 'MediaUrl' is ['a', 'b'], expected 'a'"],
        ),
    ],
    ids=["form", "json-body", "query", "everything-differs", "repeated-field"],
)
def test_an_expected_request_names_each_difference(
    expected: ExpectedRequest, request_: ProviderRequest, problems: list[str]
) -> None:
    assert expected.differences(request_) == problems


@pytest.fixture
async def provider() -> AsyncIterator[TinyProvider]:
    fake = TinyProvider()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def adapter(provider: TinyProvider) -> AsyncIterator[TinyAdapter]:
    tiny, _host = make(api_url=provider.base_url)
    await tiny.start()
    yield tiny
    await tiny.stop()


SENT = ExpectedRequest("POST", "/messages", {"to": "ann@example.com", "text": "hi"})


async def test_requests_and_canned_answers_drive_a_send(
    adapter: TinyAdapter, provider: TinyProvider
) -> None:
    await run_send_cases(
        adapter,
        [
            SendCase(
                "accepted",
                part(),
                requests=[SENT],
                check=lambda result: result.provider_message_id == "tp-1",
            ),
            SendCase(
                "rate limited",
                part(),
                responses=[CannedResponse(429, {"error": "slow"}, headers={"Retry-After": "7"})],
                requests=[SENT],
                retryable=True,
                error_code="HTTP_429",
                check=lambda error: error.retry_after == 7,
            ),
            SendCase("refused", part(), responses=[CannedResponse(400, {})], retryable=False),
            SendCase("nothing asked of the provider", part(to="busy"), requests=[], retryable=True),
        ],
        provider,
    )
    assert provider.received[0].headers["authorization"] == f"Bearer {SECRET}"


async def test_a_request_not_as_expected_is_named_field_by_field(
    adapter: TinyAdapter, provider: TinyProvider
) -> None:
    case = SendCase(
        "wrong text",
        part("hello"),
        requests=[ExpectedRequest("POST", "/messages", {"text": "hi"}), SENT],
    )
    with pytest.raises(AssertionError) as failure:
        await check_send_case(adapter, case, provider)
    assert str(failure.value) == (
        "send case 'wrong text': request 1: field 'text' is 'hello', expected 'hi'; "
        "1 request(s) made, expected 2 (made: POST /messages)"
    )


async def test_canned_answers_left_unused_fail_the_case_and_do_not_leak_into_the_next(
    adapter: TinyAdapter, provider: TinyProvider
) -> None:
    case = SendCase("no call", part(to="busy"), responses=[CannedResponse(500)], retryable=True)
    with pytest.raises(AssertionError, match="1 canned response\\(s\\) left unused"):
        await check_send_case(adapter, case, provider)
    assert provider.canned == []
    await check_send_case(adapter, SendCase("next one", part()), provider)


async def test_a_case_about_the_provider_needs_the_fake() -> None:
    adapter, _host = make()
    with pytest.raises(AssertionError, match="pass the provider fake to the runner"):
        await check_send_case(adapter, SendCase("orphan", part(), requests=[SENT]))
