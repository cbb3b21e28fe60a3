"""Slow clients do not hold connections: a request whose headers or body stall is closed, on
the real daemon (`inbox-gateway run`), while WebSockets stay open on their heartbeats."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.gateway.conftest import TOKEN
from tests.support.ports import free_port

#: short read timeouts, so the test need not wait 30 s; nothing asserts how fast they act
TIMEOUT = 3.0
#: how long a closing may take before the test calls it a failure (generous on purpose)
BOUND = 30.0
ORIGIN = "http://shop.example"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("listener")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = folder / "gateway.toml"
    config.write_text(
        f"""
[gateway]
listen = "127.0.0.1:{port}"
public_url = "{url}"
header_timeout = {TIMEOUT}
body_timeout = {TIMEOUT}
[database]
url = "sqlite:///inbox.db"
[api]
tokens = [{{ name = "crm", token = "{TOKEN}" }}]
[channels.chat]
type = "webchat"
allowed_origins = ["{ORIGIN}"]
"""
    )
    log = folder / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(config)],
            stdout=out,
            stderr=out,
            env={k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")},
        )
    try:
        wait_ready(url, process, log)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=15)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the daemon exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the daemon never became ready")


def connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def closed_by_server(sock: socket.socket, drip: bytes = b"", every: float = 0.2) -> bool:
    """Wait for the server to close, sending `drip` every `every` seconds meanwhile."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return True
            except ConnectionResetError:
                return True
        if drip:
            try:
                sock.sendall(drip)
            except (BrokenPipeError, ConnectionResetError):
                return True
    return False


def test_a_connection_that_sends_nothing_is_closed(daemon: tuple[str, Path]) -> None:
    with connect(daemon[0]) as sock:
        assert closed_by_server(sock)


def test_headers_trickled_in_forever_are_cut_off(daemon: tuple[str, Path]) -> None:
    with connect(daemon[0]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # one byte well within every timeout, but the headers never end
        assert closed_by_server(sock, drip=b"a")


def test_a_body_that_stalls_is_closed(daemon: tuple[str, Path]) -> None:
    url, log = daemon
    with connect(url) as sock:
        sock.sendall(
            b"POST /inbox/v2/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"displayName": "'
        )
        assert closed_by_server(sock)
    assert "Traceback" not in log.read_text()


def test_a_slow_but_steady_body_is_answered(daemon: tuple[str, Path]) -> None:
    """Pauses shorter than the timeout, adding up to far more than it, are a live client."""
    body = json.dumps({"username": "someone", "password": "a slow password"}).encode()
    pieces = [body[i : i + 2] for i in range(0, len(body), 2)]
    pause = TIMEOUT / 12
    assert len(pieces) * pause > 2 * TIMEOUT
    with connect(daemon[0]) as sock:
        sock.sendall(
            b"POST /inbox/api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X-Requested-With: inbox\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        for piece in pieces:
            time.sleep(pause)
            sock.sendall(piece)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # the whole body arrived and was read: the login was checked (and refused)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b"wrong username or password" in answer


def test_a_kept_alive_connection_serves_the_next_request(daemon: tuple[str, Path]) -> None:
    with connect(daemon[0]) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
            time.sleep(TIMEOUT / 3)


async def test_a_quiet_websocket_stays_open_past_the_timeouts(daemon: tuple[str, Path]) -> None:
    url = daemon[0]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url + "/channels/chat/sessions", json={}, headers={"Origin": ORIGIN}
        ) as response:
            assert response.status == 200
            token = (await response.json())["token"]
        async with http.ws_connect(
            f"{url}/channels/chat/ws?token={token}", headers={"Origin": ORIGIN}
        ) as ws:
            await asyncio.sleep(3 * TIMEOUT)
            assert not ws.closed
            await ws.send_json({"type": "sync", "afterSequence": "0"})
            answer = await ws.receive_json(timeout=BOUND)
            assert answer["type"] == "history"
