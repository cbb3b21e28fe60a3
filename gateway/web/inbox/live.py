"""`GET /inbox/ws`: every event, live, to the agents' open pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from gateway.events.outbox import envelope
from gateway.state import GATEWAY
from gateway.web.inbox.auth import current_agent, same_origin

log = logging.getLogger(__name__)

#: open agent sockets, closed at shutdown so the server need not wait for them
SOCKETS = web.AppKey("inbox_sockets", set[web.WebSocketResponse[bool]])


async def socket(request: web.Request) -> web.StreamResponse:
    """Push every outbox event (webhook JSON) to a logged-in agent's page."""
    # The cookie alone would let another site open this socket in an agent's browser.
    if not same_origin(request):
        raise web.HTTPForbidden(text="cross-site socket refused")
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPUnauthorized(text="please log in")
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    gw = request.app[GATEWAY]
    listener = gw.feed.listen()
    sockets = request.app[SOCKETS]
    sockets.add(ws)

    async def pump() -> None:
        async for event in listener:
            await ws.send_json(envelope(event))

    # hello goes first: the listener already queues events, the pump sends them after it
    await ws.send_json({"type": "hello", "agent": agent.username})
    sender = asyncio.create_task(pump(), name=f"inbox-ws-{agent.username}")
    try:
        async for message in ws:
            # The page only listens; pings keep proxies from closing an idle socket.
            if message.type is WSMsgType.TEXT and message.data == "ping":
                await ws.send_str("pong")
    finally:
        gw.feed.unlisten(listener)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        sockets.discard(ws)
    return ws


async def close_sockets(app: web.Application) -> None:
    """At shutdown: tell every open page to go away (it reconnects to the next server)."""
    sockets: set[web.WebSocketResponse[bool]] = app[SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=1001, message=b"server shutting down")
