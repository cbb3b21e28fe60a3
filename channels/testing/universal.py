"""The checks every adapter must pass, driven by an `AdapterKit` that describes the adapter.

Unsigned and malformed requests are refused with a 4xx and hand the host nothing; a duplicate
delivery is stored once; no configured secret appears in any log record (every logger at
DEBUG, third-party ones included) while the adapter parses, sends and looks up profiles; and
nothing leaves the machine. A check that does not apply to an adapter is exempted with the
reason, which the test report shows.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from channels.adapter import Adapter, HttpHandler, WebhookRequest
from channels.testing.cases import SendCase, answer, check_send_case, route_handler
from channels.testing.host import RecordingHost
from channels.testing.logs import capture_logs, check_secrets_not_logged
from channels.testing.loopback import loopback_only
from channels.testing.provider import ProviderFake


@dataclass(frozen=True)
class AdapterKit:
    """What the universal checks need to know about one adapter.

    `build(host, provider_url)` makes the adapter, not yet started, for a recording host and
    with its provider's API at `provider_url` (the started `provider` fake's base URL, or
    None without one). `message` is a correctly signed request the adapter accepts and that
    stores one new message; `unsigned` the same without its signature or with a wrong one;
    `malformed` correctly signed but unreadable. `sends` are send cases run while logs are
    captured (with canned provider answers for the failure paths, which log the most), and
    `profile_address` a participant to look up. `secrets` are every secret in the adapter's
    configuration. `exempt` maps a check's name to why it does not apply.
    """

    name: str
    build: Callable[[RecordingHost, str | None], Adapter]
    secrets: Sequence[str]
    message: WebhookRequest | None = None
    unsigned: Sequence[WebhookRequest] = ()
    malformed: Sequence[WebhookRequest] = ()
    sends: Sequence[SendCase] = ()
    profile_address: str | None = None
    provider: Callable[[], ProviderFake] | None = None
    host: Callable[[], RecordingHost] = RecordingHost
    exempt: Mapping[str, str] = field(default_factory=dict)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Adapter, RecordingHost, ProviderFake | None]]:
        """The adapter started against a fresh host (and its provider fake, when it has one)."""
        provider = self.provider() if self.provider is not None else None
        if provider is not None:
            await provider.start()
        host = self.host()
        try:
            adapter = self.build(host, provider.base_url if provider is not None else None)
            await adapter.start()
            try:
                yield adapter, host, provider
            finally:
                await adapter.stop()
        finally:
            if provider is not None:
                await provider.stop()


def _handler(adapter: Adapter, request: WebhookRequest) -> HttpHandler:
    return route_handler(adapter, request.method, request.path)


def _needs(value: object, what: str, check: str) -> None:
    if not value:
        raise AssertionError(f"the kit gives no {what} for {check!r}: add it, or exempt the check")


async def check_rejects_unsigned(
    handler: HttpHandler, request_without_signature: WebhookRequest, host: RecordingHost
) -> None:
    """A request with a missing or bad signature gets a 4xx and hands the host nothing."""
    before = host.footprint()
    response = await answer(handler, request_without_signature)
    _verdict("unsigned request", response.status, host.footprint() != before)


async def check_rejects_malformed(
    handler: HttpHandler, request: WebhookRequest, host: RecordingHost
) -> None:
    """A (correctly signed) request with a body the adapter cannot read gets a 4xx, no events."""
    before = host.footprint()
    response = await answer(handler, request)
    _verdict("malformed request", response.status, host.footprint() != before)


def _verdict(what: str, status: int, handed_over: bool) -> None:
    if not 400 <= status < 500:
        raise AssertionError(f"{what}: answered {status}, expected a 4xx")
    if handed_over:
        raise AssertionError(f"{what}: answered {status} but handed the host events")


async def check_duplicate_is_one_event(
    handler: HttpHandler, request: WebhookRequest, host: RecordingHost
) -> None:
    """The same delivery twice is answered 2xx both times and stores its messages once."""
    stored = host.footprint()[1]
    first = await answer(handler, request)
    after_first = host.footprint()[1]
    second = await answer(handler, request)
    if not (200 <= first.status < 300 and 200 <= second.status < 300):
        raise AssertionError(
            f"duplicate delivery: answered {first.status} then {second.status}, expected 2xx"
        )
    if after_first == stored:
        raise AssertionError("duplicate delivery: the first delivery stored no message")
    if host.footprint()[1] != after_first:
        raise AssertionError("duplicate delivery: the second delivery stored another message")


async def _unsigned(kit: AdapterKit) -> None:
    _needs(kit.unsigned, "unsigned requests", "rejects-unsigned")
    async with kit.running() as (adapter, host, _provider):
        for request in kit.unsigned:
            await check_rejects_unsigned(_handler(adapter, request), request, host)


async def _malformed(kit: AdapterKit) -> None:
    _needs(kit.malformed, "malformed requests", "rejects-malformed")
    async with kit.running() as (adapter, host, _provider):
        for request in kit.malformed:
            await check_rejects_malformed(_handler(adapter, request), request, host)


async def _duplicate(kit: AdapterKit) -> None:
    _needs(kit.message, "signed message request", "duplicate-stored-once")
    assert kit.message is not None
    async with kit.running() as (adapter, host, _provider):
        await check_duplicate_is_one_event(_handler(adapter, kit.message), kit.message, host)


async def _secrets(kit: AdapterKit) -> None:
    _needs([secret for secret in kit.secrets if secret], "secrets", "secrets-never-logged")
    parsed = [*([kit.message] if kit.message else []), *kit.unsigned, *kit.malformed]
    _needs(parsed, "requests to parse", "secrets-never-logged")
    _needs(kit.sends, "send cases", "secrets-never-logged")
    with capture_logs(logging.DEBUG) as records:
        async with kit.running() as (adapter, _host, provider):
            for request in parsed:
                await answer(_handler(adapter, request), request)
            for case in kit.sends:
                await check_send_case(adapter, case, provider)
            if kit.profile_address is not None:
                await adapter.lookup_profile(kit.profile_address)
    check_secrets_not_logged(kit.secrets, records)


#: the checks every adapter must pass, by name
UNIVERSAL_CHECKS: Mapping[str, Callable[[AdapterKit], Awaitable[None]]] = {
    "rejects-unsigned": _unsigned,
    "rejects-malformed": _malformed,
    "duplicate-stored-once": _duplicate,
    "secrets-never-logged": _secrets,
}


async def run_universal_check(kit: AdapterKit, name: str) -> None:
    """Run one universal check on the kit's adapter, with every request kept on loopback.

    An exempted check is not run; the caller reports its reason (see `universal_tests`).
    """
    check = UNIVERSAL_CHECKS[name]
    try:
        with loopback_only():
            await check(kit)
    except AssertionError as exc:
        raise AssertionError(f"{kit.name}, {name}: {exc}") from exc


async def check_adapter_kit(kit: AdapterKit) -> list[str]:
    """Run every check the kit does not exempt; answers the names of those it ran."""
    ran = []
    for name in UNIVERSAL_CHECKS:
        if name not in kit.exempt:
            await run_universal_check(kit, name)
            ran.append(name)
    return ran


def universal_tests(kit: AdapterKit) -> Callable[..., Any]:
    """A pytest test over every universal check, one test id per check; exemptions skip.

    In a plug-in's test module: `test_universal = universal_tests(KIT)`.
    """
    import asyncio

    import pytest

    unknown = sorted(set(kit.exempt) - set(UNIVERSAL_CHECKS))
    if unknown:
        raise ValueError(f"{kit.name}: exempts unknown checks {unknown}")

    @pytest.mark.parametrize("check", list(UNIVERSAL_CHECKS))
    def test_universal(check: str) -> None:
        reason = kit.exempt.get(check)
        if reason is not None:
            pytest.skip(f"{kit.name} is exempt: {reason}")
        asyncio.run(run_universal_check(kit, check))

    test_universal.__doc__ = f"{kit.name} passes the checks every adapter must pass."
    return test_universal
