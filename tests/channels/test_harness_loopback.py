"""Anything a test reaches for beyond this machine fails it loudly, whichever client asked."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
import requests
from aiohttp import web

from channels import WebhookRequest, WebhookResponse
from channels.testing import (
    RecordingHost,
    SendCase,
    WebhookCase,
    check_send_case,
    check_webhook_case,
    is_loopback,
    loopback_only,
)
from tests.channels.tiny_adapter import SECRET, TinyAdapter, TinyConfig, make, part, request


async def _here(request: web.Request) -> web.Response:
    return web.Response(text="here")


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/", _here)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def test_an_aiohttp_request_to_another_host_fails_even_when_the_code_swallows_it() -> None:
    with pytest.raises(AssertionError) as failure, loopback_only():
        async with aiohttp.ClientSession() as http:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await http.get("https://api.example.com/v1/messages")
    assert "a request left the machine: api.example.com:443 (name look-up)" in str(failure.value)


async def test_a_requests_call_from_a_worker_thread_to_another_address_fails() -> None:
    """python-facebook-api sends with `requests` in worker threads; the guard holds there too."""

    def call() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.get("http://192.0.2.1/v24.0/me", timeout=5)

    with pytest.raises(AssertionError, match=r"left the machine: 192\.0\.2\.1:80"), loopback_only():
        await asyncio.to_thread(call)


async def test_the_real_cause_is_named_when_the_refusal_surfaces_as_an_error() -> None:
    with pytest.raises(AssertionError, match="left the machine") as failure, loopback_only():
        async with aiohttp.ClientSession() as http:
            await http.get("http://api.example.com/")
    assert isinstance(failure.value.__cause__, aiohttp.ClientError | OSError)


async def test_loopback_hosts_pass(local_server: int) -> None:
    with loopback_only() as guard:
        async with aiohttp.ClientSession() as http:
            for host in ("127.0.0.1", "localhost"):
                async with http.get(f"http://{host}:{local_server}/") as response:
                    assert await response.text() == "here"
        await asyncio.to_thread(requests.get, f"http://127.0.0.1:{local_server}/", timeout=5)
    assert guard.attempts == []


def test_the_socket_module_is_restored_after_the_block() -> None:
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    with pytest.raises(AssertionError), loopback_only(), socket.socket() as sock:
        sock.connect_ex(("192.0.2.1", 9))
    assert (socket.socket.connect, socket.getaddrinfo) == (connect, getaddrinfo)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        (b"127.0.0.1", True),
        ("10.0.0.1", False),
        ("api.twilio.com", False),
        ("localhost.evil.example", False),
        (None, False),
    ],
)
def test_what_counts_as_loopback(host: object, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_a_send_case_reaching_a_real_provider_fails_though_its_outcome_matches() -> None:
    """Unreachable looks retryable to the adapter; the case must not pass for that reason."""
    adapter, _host = make(api_url="https://api.example.com")
    await adapter.start()
    try:
        case = SendCase("escapes", part(), retryable=True, error_code="NETWORK_ERROR")
        with pytest.raises(AssertionError) as failure:
            await check_send_case(adapter, case)
    finally:
        await adapter.stop()
    assert str(failure.value).startswith("send case 'escapes': a request left the machine")


async def test_a_webhook_case_whose_handler_calls_out_fails() -> None:
    class Curious(TinyAdapter):
        async def inbound(self, request: WebhookRequest) -> WebhookResponse:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with aiohttp.ClientSession() as http:
                    await http.get("https://lookup.example.net/")
            return await super().inbound(request)

    host = RecordingHost()
    adapter = Curious(TinyConfig(type="tiny", token=SECRET), host)
    case = WebhookCase("calls out", request({"id": "m", "from": "a", "text": "t"}))
    with pytest.raises(AssertionError, match="'calls out': a request left the machine"):
        await check_webhook_case(adapter, host, case)
