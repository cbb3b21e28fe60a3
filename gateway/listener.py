"""The daemon's listening socket: aiohttp's server, plus the read timeouts aiohttp lacks.

aiohttp closes a kept-alive connection that sits idle between requests, but it lets a client
take as long as it likes to send a request's headers or its body, so a few hundred slow
clients hold a few hundred connections forever. `TimedRequestHandler` closes a connection
- whose request headers are not complete `header_timeout` seconds after it opened (or after
  the first byte of a later request on it), however slowly they trickle in;
- whose request body goes `body_timeout` seconds without a byte while it is being read (not
  while the gateway itself has paused reading because a handler is busy).
Neither applies after a WebSocket upgrade: the socket's own heartbeats decide then.
It also answers a body in a coding aiohttp's parser cannot inflate (`br`, `zstd`) with the
gateway's 415 (`gateway.content_coding`), not aiohttp's plain-text 400. And a body the parser
gives up on once its request was handed to a handler (a deflate body that stops inflating, a
malformed chunk, its headers having come in an earlier read) fails that handler's read, which
answers the gateway's 400: left to aiohttp, the handler waited for the rest of the body for
ever, unwatched by the body's read timeout. A gzip or deflate body that stops inflating in the
same read as its headers gets that 400 here, and any other request the parser refuses (a
request line or header over 8,190 bytes, a malformed chunk, `Content-Length` given twice) a
JSON 400 `MALFORMED_REQUEST`, not aiohttp's plain text.

`TimedAppRunner` serves an application with these handlers; `run` is `aiohttp.web.run_app`
for it (signals, graceful shutdown; see `stop_on_signals`). Every listener the daemon opens
goes through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from gateway.content_coding import (
    coding_refused,
    parser_failed_inflating,
    parser_refused_coding,
    undecodable,
)
from gateway.error_bodies import application_body

log = logging.getLogger(__name__)

#: how long a kept-alive connection may sit idle between requests (aiohttp's run_app default)
KEEPALIVE_SECONDS = 75.0


class TimedRequestHandler(RequestHandler):
    """aiohttp's connection handler, closing connections whose headers or body stall."""

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        header_timeout: float,
        body_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._clock = loop
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._tick = min(max(min(header_timeout, body_timeout) / 4, 0.05), 5.0)
        #: when the request now awaited began to arrive (None: none is on its way)
        self._headers_since: float | None = None
        #: the body of the latest request whose headers arrived
        self._incoming: Any = None
        self._last_read = 0.0
        self._watch: asyncio.TimerHandle | None = None
        #: whether the parser failed inside a body: nothing more on this connection is read
        self._spent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        now = self._clock.time()
        self._headers_since = now
        self._last_read = now
        self._watch = self._clock.call_later(self._tick, self._check)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._spent:
            return
        now = self._clock.time()
        self._last_read = now
        if self._headers_since is None and not self._receiving_body():
            self._headers_since = now  # the first byte of the next request
        arriving = self._incoming if self._receiving_body() else None
        parsed = self._request_count
        super().data_received(data)
        if self._request_count == parsed:
            return
        self._headers_since = None  # its headers are complete
        if not self._messages:
            return
        latest, body = self._messages[-1]
        failure = getattr(latest, "exc", None)  # aiohttp queues its parser's errors as requests
        if arriving is not None and not arriving.is_eof() and failure is not None:
            # The parser failed inside the body of a request already handed over (a deflate
            # body cut short fails only at its end, a malformed chunk where it is): that
            # request's read fails instead, so its handler answers. Left to aiohttp, the
            # handler waited for the rest of the body for ever, and the body's read timeout
            # no longer watched it. Requests queued before it are still answered; the parser
            # being spent, nothing after it is read, and aiohttp closes the connection once
            # it has answered it (the body it cannot finish reading fails again).
            self._messages.pop()
            arriving.set_exception(RequestPayloadError(str(failure)), failure)
            self._incoming = None
            self._spent = True
            return
        self._incoming = body

    def _receiving_body(self) -> bool:
        """Whether the latest request's body is still arriving."""
        return self._incoming is not None and not self._incoming.is_eof()

    def _check(self) -> None:
        self._watch = None
        if self.transport is None:
            return
        if self._payload_parser is not None:
            return  # a WebSocket now: its heartbeats keep or close it
        now = self._clock.time()
        if self._reading_paused:
            self._last_read = now  # we stopped reading, not the client
        elif not self._upgraded:
            if self._headers_since is not None:
                if now - self._headers_since > self._header_timeout:
                    self._abandon("its request headers took too long")
                    return
            elif self._receiving_body() and now - self._last_read > self._body_timeout:
                self._abandon("its request body stalled")
                return
        self._watch = self._clock.call_later(self._tick, self._check)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        coding = parser_refused_coding(exc)
        if coding is not None:
            log.info(
                "refused a request from %s: its Content-Encoding %s cannot be read",
                request.remote,
                coding,
            )
            answer = coding_refused(coding)
        elif parser_failed_inflating(exc):
            log.info("refused a request from %s: its body does not inflate", request.remote)
            answer = undecodable()
        elif isinstance(exc, HttpProcessingError) and 400 <= status < 500:
            super().handle_error(request, status, exc, message)  # logs it, as for any door
            answer = malformed(status, exc)
        else:
            return super().handle_error(request, status, exc, message)
        answer.force_close()  # the body was not read: the connection cannot carry another request
        return answer

    def _abandon(self, why: str) -> None:
        log.debug("closing a connection from %s: %s", self.peername, why)
        if self.transport is not None:
            self.transport.abort()


def malformed(status: int, error: HttpProcessingError) -> web.Response:
    """The error body of SPEC section 4 for a request aiohttp's HTTP parser refused (a request
    line or header over 8,190 bytes, a malformed chunk, `Content-Length` given twice), where
    aiohttp answers in plain text: every answer of the gateway's doors is JSON."""
    # aiohttp's first words say what is wrong; what follows them quotes the client's bytes
    why = error.message.strip().split(":", 1)[0].strip() or "the request could not be read"
    return web.json_response(
        application_body("MALFORMED_REQUEST", "malformed HTTP request", why[:200]), status=status
    )


class TimedServer(web.Server):
    """aiohttp's low-level server, making `TimedRequestHandler`s."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout

    def __call__(self) -> RequestHandler:
        return TimedRequestHandler(
            self,
            loop=self._loop,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            **self._kwargs,
        )


class TimedAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections have header and body read timeouts."""

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout: float,
        body_timeout: float,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_SECONDS)
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return TimedServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            **made._kwargs,
        )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float,
    body_timeout: float,
    shutdown_timeout: float,
    sock: socket.socket | None = None,
    public_url: str | None = None,
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut it down gracefully.

    With `sock` (a listening socket shared by several processes), `host` and `port` only name it.
    With `public_url`, the line saying it listens (once it does) names it too.
    """
    runner = TimedAppRunner(
        app,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    restore = stop_on_signals(asyncio.get_running_loop())
    try:
        site = web.TCPSite(runner, host, port) if sock is None else web.SockSite(runner, sock)
        await site.start()
        if public_url is not None:
            log.info("inbox-gateway listening on %s:%s (public URL %s)", host, port, public_url)
        tune_collector()  # after start-up, so that what it built is frozen
        while True:
            await asyncio.sleep(3600)
    finally:
        try:
            await runner.cleanup()
        finally:
            restore()


def stop_on_signals(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Make SIGINT and SIGTERM stop the daemon gracefully, even under load; answers how to
    put the previous handlers back.

    asyncio's own signal handlers (which aiohttp's `handle_signals` uses) learn of a signal
    through the loop's wake-up pipe, and so do the loop's thread-safe calls: every commit, read
    and DNS lookup a thread finishes writes a byte to it. While the loop is busy (closing
    thousands of sockets, say), those bytes fill the pipe, the signal's byte is dropped, and
    the stop never begins. Python runs these handlers in the main thread, which is the loop's,
    whatever the pipe holds.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(_graceful_exit)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def _graceful_exit() -> None:
    raise web.GracefulExit


#: new objects that start a collection of the youngest generation (CPython's default: 700)
YOUNG_OBJECTS = 50_000


def tune_collector() -> None:
    """Fit the garbage collector to a daemon that holds thousands of sockets' objects.

    With CPython's defaults, the objects of a request or a reply in flight outlive a few young
    collections and are promoted to the oldest generation; once they add up to a quarter of it,
    a full collection scans the whole heap, which with 10,000 web chat sockets stops the event
    loop for a second or more, every few seconds under load. Collected after 50,000 new objects
    instead of 700, they die young; and what start-up built, which lives as long as the
    process, is frozen out of every later collection.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)


def run(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float,
    body_timeout: float,
    shutdown_timeout: float,
    sock: socket.socket | None = None,
    public_url: str | None = None,
) -> None:
    """`serve` on a new event loop, as `aiohttp.web.run_app` does."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(
        serve(
            app,
            host,
            port,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            shutdown_timeout=shutdown_timeout,
            sock=sock,
            public_url=public_url,
        )
    )
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
