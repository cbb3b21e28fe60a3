"""Table-driven adapter tests: webhook cases (request in, answer and events out) and send cases
(part in, provider requests and result out), each failing with a message that says what differed.

Every runner works under `loopback_only()`, so a case that reaches past this machine fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from channels.adapter import Adapter, HttpHandler, WebhookRequest, WebhookResponse
from channels.errors import SendError
from channels.events import InboundEvent
from channels.parts import OutboundPart, SendResult
from channels.testing.host import RecordingHost
from channels.testing.loopback import loopback_only
from channels.testing.provider import (
    CannedResponse,
    ExpectedRequest,
    ProviderFake,
    check_requests,
)
from channels.text import UnstorableText

if TYPE_CHECKING:
    import pytest

Predicate = Callable[..., object]


@dataclass(frozen=True)
class WebhookCase:
    """A provider request in, and what the adapter must answer and hand the host.

    `event_types` lists the types of the events the request must produce, in order;
    `events` the events themselves; `event_count` only their number. `headers` and
    `content_type` are checked on the answer. `check(response, events)` may assert more; it
    fails the case by raising AssertionError or returning False.
    """

    name: str
    request: WebhookRequest
    status: int = 200
    body_contains: str | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    event_types: Sequence[type] | None = None
    events: Sequence[InboundEvent] | None = None
    event_count: int | None = None
    check: Predicate | None = None


@dataclass(frozen=True)
class SendCase:
    """One outbound part, what the provider answers, and the requests and result it must give.

    With `retryable` set, the send must raise a `SendError` with that flag (and `error_code`,
    when given); otherwise it must succeed and `check(result)` must hold (`check(error)` for a
    failure). `responses` are the provider's answers, in order, given by the provider fake
    instead of its own; `requests` are the requests the adapter must make, in order (an empty
    sequence: none at all; None: not checked). Both need the fake passed to the runner.
    """

    name: str
    part: OutboundPart
    check: Predicate | None = None
    retryable: bool | None = None
    error_code: str | None = None
    responses: Sequence[CannedResponse] = ()
    requests: Sequence[ExpectedRequest] | None = None


Case = TypeVar("Case", WebhookCase, SendCase)


def case_id(value: object) -> str | None:
    """A case's name as its pytest id: `@pytest.mark.parametrize("case", CASES, ids=case_id)`.

    Other parameters get pytest's own id (None), so it also serves several argument names.
    """
    return value.name if isinstance(value, WebhookCase | SendCase) else None


def parametrize_cases(cases: Iterable[Case], argname: str = "case") -> pytest.MarkDecorator:
    """`pytest.mark.parametrize` over a case table, each test named after its case.

    Names must be unique within the table, so that a failure points at one row.
    """
    import pytest

    table = list(cases)
    names = [case.name for case in table]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"case names must be unique; repeated: {repeated}")
    return pytest.mark.parametrize(argname, [pytest.param(c, id=c.name) for c in table])


def route_handler(adapter: Adapter, method: str, path: str) -> HttpHandler:
    """The adapter's HTTP handler for `method` and `path` (relative, or ending in it)."""
    wanted = path.split("?", 1)[0].strip("/")
    for route in adapter.routes():
        if route.method != method.upper():
            continue
        own = route.path.strip("/")
        if wanted == own or wanted.endswith("/" + own):
            return cast(HttpHandler, route.handler)
    offered = ", ".join(f"{r.method} {r.path}" for r in adapter.routes()) or "none"
    raise AssertionError(f"the adapter has no {method} route for {path!r} (it has: {offered})")


async def answer(handler: HttpHandler, request: WebhookRequest) -> WebhookResponse:
    """What the gateway would answer: the handler's response, or 400 for unstorable text."""
    try:
        return await handler(request)
    except UnstorableText as refused:
        # the gateway's route answers this for every adapter (INVALID_BODY)
        error = {"code": "INVALID_BODY", "description": str(refused)}
        body = {"message": "invalid request", "details": {"applicationError": error}}
        return WebhookResponse.json(body, status=400)
    except Exception as exc:
        raise AssertionError(
            f"{request.method} {request.path}: the handler raised {type(exc).__name__}: {exc} "
            "(the gateway would answer 500)"
        ) from exc


def _body_text(response: WebhookResponse) -> str:
    body = response.body
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


def _holds(check: Predicate, *args: object) -> str | None:
    """None when the check passes, else why it failed."""
    try:
        outcome = check(*args)
    except AssertionError as exc:
        return f"check failed: {exc}" if str(exc) else "check failed"
    except Exception as exc:
        return f"check raised {type(exc).__name__}: {exc}"
    return "check returned False" if outcome is False else None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _event_differences(got: Sequence[InboundEvent], wanted: Sequence[InboundEvent]) -> list[str]:
    problems = [
        f"event {number}: {event!r}, expected {expected!r}"
        for number, (event, expected) in enumerate(zip(got, wanted, strict=False), start=1)
        if event != expected
    ]
    if len(got) != len(wanted):
        problems.append(f"{len(got)} events, expected {len(wanted)}")
    return problems


async def check_webhook_case(adapter: Adapter, host: RecordingHost, case: WebhookCase) -> None:
    """Run one webhook case; raises AssertionError saying what differed."""
    handler = route_handler(adapter, case.request.method, case.request.path)
    before = len(host.events)
    try:
        with loopback_only():
            response = await answer(handler, case.request)
    except AssertionError as exc:
        raise AssertionError(f"webhook case {case.name!r}: {exc}") from exc
    events = host.events[before:]
    body = _body_text(response)
    problems: list[str] = []
    if response.status != case.status:
        problems.append(f"status {response.status}, expected {case.status} (body {_short(body)!r})")
    if case.body_contains is not None and case.body_contains not in body:
        problems.append(f"body {_short(body)!r} lacks {case.body_contains!r}")
    if case.content_type is not None and response.content_type != case.content_type:
        problems.append(f"content type {response.content_type!r}, expected {case.content_type!r}")
    for name, value in case.headers.items():
        given = {k.lower(): v for k, v in response.headers.items()}.get(name.lower())
        if given != value:
            problems.append(f"header {name} is {given!r}, expected {value!r}")
    if case.event_types is not None:
        got = [type(event).__name__ for event in events]
        wanted = [kind.__name__ for kind in case.event_types]
        if got != wanted:
            problems.append(f"events {got}, expected {wanted}")
    if case.events is not None:
        problems.extend(_event_differences(events, case.events))
    if case.event_count is not None and len(events) != case.event_count:
        problems.append(f"{len(events)} events, expected {case.event_count}")
    if case.check is not None and (why := _holds(case.check, response, events)) is not None:
        problems.append(why)
    if problems:
        raise AssertionError(f"webhook case {case.name!r}: " + "; ".join(problems))


async def run_webhook_cases(
    adapter: Adapter, host: RecordingHost, cases: Sequence[WebhookCase]
) -> None:
    """Run every case in order against one adapter and host; reports all failures at once."""
    failures = []
    for case in cases:
        try:
            await check_webhook_case(adapter, host, case)
        except AssertionError as exc:
            failures.append(str(exc))
    _report(failures)


def _describe(error: SendError) -> str:
    return f"SendError {error.code!r} (retryable={error.retryable}): {error.message}"


async def _send(adapter: Adapter, case: SendCase) -> SendResult | SendError:
    try:
        with loopback_only():
            try:
                return await adapter.send(case.part)
            except SendError as error:
                return error
    except AssertionError as exc:
        raise AssertionError(f"send case {case.name!r}: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"send case {case.name!r}: raised {type(exc).__name__}: {exc}; "
            "an adapter raises only SendError"
        ) from exc


def _outcome_problems(case: SendCase, outcome: SendResult | SendError) -> list[str]:
    if isinstance(outcome, SendError):
        if case.retryable is None:
            return [f"unexpected {_describe(outcome)}"]
        problems = []
        if outcome.retryable != case.retryable:
            problems.append(f"retryable={outcome.retryable}, expected {case.retryable}")
        if case.error_code is not None and outcome.code != case.error_code:
            problems.append(f"code {outcome.code!r}, expected {case.error_code!r}")
        if case.check is not None and (why := _holds(case.check, outcome)) is not None:
            problems.append(why)
        return problems
    if case.retryable is not None:
        return [
            f"sent ({outcome.provider_message_id!r}), expected a SendError with "
            f"retryable={case.retryable}"
        ]
    if not outcome.provider_message_id:
        return ["empty provider_message_id"]
    if case.check is not None and (why := _holds(case.check, outcome)) is not None:
        return [why]
    return []


async def check_send_case(
    adapter: Adapter, case: SendCase, provider: ProviderFake | None = None
) -> None:
    """Run one send case against a started adapter; raises AssertionError saying what differed."""
    if provider is None and (case.responses or case.requests is not None):
        raise AssertionError(
            f"send case {case.name!r} names provider responses or requests: pass the provider "
            "fake to the runner"
        )
    before = 0
    if provider is not None:
        before = len(provider.received)
        provider.canned[:] = case.responses
    try:
        outcome = await _send(adapter, case)
    finally:
        unused = len(provider.canned) if provider is not None else 0
        if provider is not None:
            provider.canned.clear()
    problems = _outcome_problems(case, outcome)
    if provider is not None and case.requests is not None:
        problems.extend(check_requests(case.requests, provider.received[before:]))
    if unused:
        problems.append(f"{unused} canned response(s) left unused")
    if problems:
        cause = outcome if isinstance(outcome, SendError) else None
        raise AssertionError(f"send case {case.name!r}: " + "; ".join(problems)) from cause


async def run_send_cases(
    adapter: Adapter, cases: Sequence[SendCase], provider: ProviderFake | None = None
) -> None:
    """Run every send case in order; reports all failures at once."""
    failures = []
    for case in cases:
        try:
            await check_send_case(adapter, case, provider)
        except AssertionError as exc:
            failures.append(str(exc))
    _report(failures)


def _report(failures: Sequence[str]) -> None:
    if failures:
        raise AssertionError(f"{len(failures)} case(s) failed:\n" + "\n".join(failures))


def response_json(response: WebhookResponse) -> Any:
    """The answer's body as JSON (for `check` functions)."""
    return json.loads(_body_text(response))
