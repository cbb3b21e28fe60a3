"""Adapter routes mounted under `/channels/<id>/`, turning aiohttp requests into frozen ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

from aiohttp import WSMsgType, web
from aiohttp.hdrs import CONTENT_ENCODING
from aiohttp.web_protocol import RequestPayloadError

from channels import Route, WebhookRequest, WebhookResponse
from channels.adapter import HttpHandler, SocketHandler
from gateway.client_address import address_group, of_request
from gateway.content_coding import undecodable
from gateway.domain.unstorable import UnstorableText
from gateway.error_bodies import application_body
from gateway.state import GATEWAY
from gateway.store.database import unreachable
from gateway.store.spool import Spool

log = logging.getLogger(__name__)

#: the largest WebSocket frame a visitor may send: above the adapters' own limits (a web chat
#: frame of its largest valid message, 20 items of 4,096 characters, is up to 330 KB), so a
#: frame too large for them gets their error frame; only a larger one closes the socket (1009)
MAX_FRAME_BYTES = 1024 * 1024

#: where provider webhooks wait while the database is away
SPOOL = web.AppKey("spool", Spool)
#: the handlers of the routes whose requests may be spooled, by the path they are mounted at
SPOOLED_ROUTES = web.AppKey("spooled_routes", dict[str, HttpHandler])


#: what ends a socket's frames
_ENDS = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


class AiohttpSocket:
    """`channels.Socket` over an aiohttp WebSocket: JSON text frames only."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def send_json(self, data: Mapping[str, Any]) -> None:
        if not self._ws.closed:
            await self._ws.send_json(dict(data))

    def receive(self) -> AsyncIterator[str]:
        # the socket is its own iterator of frames (no generator around aiohttp's): fewer
        # objects for each of thousands of open sockets for the garbage collector to scan
        return self

    def __aiter__(self) -> AiohttpSocket:
        return self

    async def __anext__(self) -> str:
        while True:
            message = await self._ws.receive()
            if message.type == WSMsgType.TEXT:
                return cast(str, message.data)
            if message.type == WSMsgType.BINARY:
                return cast(bytes, message.data).decode("utf-8", errors="replace")
            if message.type in _ENDS:
                raise StopAsyncIteration

    async def close(self, code: int = 1000, message: str = "") -> None:
        await self._ws.close(code=code, message=message.encode())


def _error(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def too_large() -> web.Response:
    return _error(
        413,
        application_body(
            "PAYLOAD_TOO_LARGE",
            "request body too large",
            "the request body is larger than the gateway accepts",
        ),
    )


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (refused before it is read whole)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    if request.content_length == 0:
        # a proxy may add `Content-Length: 0` to a GET (Meta's verification handshake);
        # reading exactly nothing from aiohttp's empty stream reports an early end
        return b""
    if request.content_length is not None and CONTENT_ENCODING not in request.headers:
        # The usual webhook: its length is known and nothing inflates it, so one read does
        # (the chunk loop below costs a round of the stream's machinery per chunk).
        try:
            return await request.content.readexactly(request.content_length)
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("the body ended early") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def frozen_request(request: web.Request, body: bytes) -> WebhookRequest:
    settings = request.app[GATEWAY].config.gateway
    public_url = settings.public_url
    client = of_request(request, settings.trusted_networks)
    return WebhookRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        public_url=public_url + request.path_qs,
        remote=client,
        client_group=address_group(client),
    )


def to_response(answer: WebhookResponse) -> web.Response:
    content_type, _, params = answer.content_type.partition(";")
    charset = None
    if "charset=" in params:
        charset = params.split("charset=", 1)[1].strip()
    body = answer.body.encode() if isinstance(answer.body, str) else answer.body
    response = web.Response(
        status=answer.status,
        body=body,
        content_type=content_type.strip() or "text/plain",
        charset=charset,
    )
    response.headers.update(answer.headers)
    return response


def _http(route: Route, limit: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handler = cast(HttpHandler, route.handler)

    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, limit)
        except RequestPayloadError:
            return undecodable()
        if body is None:
            return too_large()
        frozen = frozen_request(request, body)
        spool = request.app.get(SPOOL)
        spooled = route.spooled_answer if spool is not None else None
        # while earlier requests wait in the spool, this one goes after them, in order
        if (
            spool is not None
            and spooled is not None
            and spool.behind
            and await asyncio.to_thread(spool.put, frozen)
        ):
            return to_response(spooled)
        try:
            answer = await handler(frozen)
        except UnstorableText as refused:
            return _error(400, application_body("INVALID_BODY", "invalid request", str(refused)))
        except Exception as exc:
            if spool is None or spooled is None or not unreachable(exc):
                raise
            if not await asyncio.to_thread(spool.put, frozen):
                raise
            log.warning(
                "the database cannot be reached: %s %s kept in %s to be stored once it is back",
                request.method,
                request.path,
                spool.folder,
            )
            return to_response(spooled)
        return to_response(answer)

    return serve


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _socket(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handler = cast(SocketHandler, route.handler)

    async def serve(request: web.Request) -> web.StreamResponse:
        # permessage-deflate is declined (compress=False): its zlib state costs about 100 KB a
        # socket, more than a chat's small JSON frames save in bandwidth
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
        try:
            await ws.prepare(request)
        except ConnectionError as exc:
            return _left_during_handshake(request, exc)
        if _gone(request):
            with contextlib.suppress(ConnectionError):
                await ws.close()
            _left_during_handshake(request, None)
            return ws
        try:
            await handler(frozen_request(request, b""), AiohttpSocket(ws))
        finally:
            if not ws.closed:
                await ws.close()
        return ws

    return serve


def _left_during_handshake(request: web.Request, error: BaseException | None) -> web.Response:
    # A visitor who closes the tab mid-handshake is ordinary traffic, not a failure of ours.
    why = f" ({type(error).__name__})" if error is not None else ""
    log.info("a client left during the WebSocket handshake of %s%s", request.path, why)
    # No one will read it: aiohttp's attempt to send it ends quietly on the closed connection.
    return web.Response(status=400, text="the client left during the handshake")


def mount_routes(app: web.Application, channel_id: str, routes: list[Route], limit: int) -> None:
    for route in routes:
        path = f"/channels/{channel_id}/{route.path.lstrip('/')}"
        if route.method == "WS":
            app.router.add_get(path, _socket(route))
        elif route.method == "GET":
            app.router.add_get(path, _http(route, limit), allow_head=False)
        else:
            app.router.add_route(route.method, path, _http(route, limit))
        if route.spooled_answer is not None and SPOOLED_ROUTES in app:
            app[SPOOLED_ROUTES][path] = cast(HttpHandler, route.handler)
