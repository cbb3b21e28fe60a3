"""A body the HTTP parser gives up on is answered even when its request waits behind another
on the same connection (pipelined): the listener, `TimedAppRunner`, with a handler that holds
the first request until the second's body has failed."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway.listener import TimedAppRunner
from tests.support.ports import free_port


async def test_a_failing_body_queued_behind_a_busy_request_is_answered() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await release.wait()
        return web.Response(text=f"read {len(await request.read())}")

    async def read(request: web.Request) -> web.Response:
        try:
            await request.read()
        except RequestPayloadError:
            return web.Response(status=400, text="unreadable body")
        return web.Response(text="read")

    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/read", read)
    runner = TimedAppRunner(app, header_timeout=30, body_timeout=30)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )
        await started.wait()
        writer.write(b"zz\r\n")  # a chunk size that is not a number, while /slow is busy
        await writer.drain()
        await asyncio.sleep(0.3)  # so that the gateway has read it before /slow answers
        release.set()
        answers = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await runner.cleanup()
    assert b"read 3" in answers
    # before, the connection closed after /slow's answer, and /read got none at all
    assert b"HTTP/1.1 400" in answers and b"unreadable body" in answers
