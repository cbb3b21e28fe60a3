"""A visitor who goes away during the WebSocket handshake is an INFO line, never an ERROR."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct

import aiohttp
import pytest

from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import webchat_channel

SITE = "https://shop.example.com"


async def token_of(live: LiveGateway) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{live.url}/channels/chat/sessions", json={}, headers={"Origin": SITE}) as r,
    ):
        token = (await r.json())["token"]
        assert isinstance(token, str)
        return token


def handshake(live: LiveGateway, token: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /channels/chat/ws?token={token} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{live.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        f"Origin: {SITE}\r\n\r\n"
    ).encode()


def drop(live: LiveGateway, request: bytes, how: str) -> None:
    """Send (part of) the handshake on a blocking socket and go away, without yielding to
    the gateway in between: it reads the request and the end of the connection together."""
    with socket.create_connection(("127.0.0.1", live.port)) as raw:
        raw.sendall(request[: len(request) // 2] if how == "half" else request)
        if how == "reset":
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def test_visitors_dropping_mid_handshake_leave_info_lines_and_no_error(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    caplog.set_level(logging.INFO)
    for how in ("half", "close", "reset"):
        for _ in range(5):
            drop(live, handshake(live, await token_of(live)), how)
    await asyncio.sleep(0.5)  # let the gateway see every dropped connection out

    # a visitor who stays is served as before
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{live.url}/channels/chat/ws?token={await token_of(live)}", headers={"Origin": SITE}
        ) as ws,
    ):
        await ws.send_json({"type": "sync", "afterSequence": "0"})
        assert (await ws.receive_json(timeout=5))["type"] == "history"

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []
    left = [r for r in caplog.records if "left during the WebSocket handshake" in r.getMessage()]
    assert left and all(r.levelno == logging.INFO for r in left)


async def test_permessage_deflate_is_declined_and_the_socket_works(
    start_gateway: StartGateway,
) -> None:
    """A browser offers compression; the gateway answers without it (it would cost ~100 KB a
    socket) and the chat works the same."""
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{live.url}/channels/chat/ws?token={await token_of(live)}",
            headers={"Origin": SITE},
            compress=15,
        ) as ws,
    ):
        assert ws.compress == 0
        await ws.send_json({"type": "sync", "afterSequence": "0"})
        assert (await ws.receive_json(timeout=5))["type"] == "history"
