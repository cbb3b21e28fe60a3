"""`GET /inbox/ws`: every event, live, to the agents' open pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from gateway.events.outbox import envelope
from gateway.state import GATEWAY
from gateway.web.inbox.auth import SESSION_ENDED, SESSIONS, current_session, same_origin
from gateway.web.inbox.sessions import CACHE_SECONDS

log = logging.getLogger(__name__)

#: open agent sockets, closed at shutdown so the server need not wait for them
SOCKETS = web.AppKey("inbox_sockets", set[web.WebSocketResponse[bool]])
#: how often an open socket checks that its session still lives (it may end on another node)
RECHECK_SECONDS = 2 * CACHE_SECONDS


async def socket(request: web.Request) -> web.StreamResponse:
    """Push every outbox event (webhook JSON) to a logged-in agent's page."""
    # The cookie alone would let another site open this socket in an agent's browser.
    if not same_origin(request):
        raise web.HTTPForbidden(text="cross-site socket refused")
    found = await current_session(request)
    if found is None:
        raise web.HTTPUnauthorized(text="please log in")
    agent, session = found
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    gw = request.app[GATEWAY]
    listener = gw.feed.listen()
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    of_session = request.app[SESSIONS].sockets.setdefault(session.id, set())
    of_session.add(ws)

    async def pump() -> None:
        async for event in listener:
            await ws.send_json(envelope(event))

    async def watch() -> None:
        while not ws.closed:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                ended = await current_session(request) is None
            except Exception:  # the database is away: keep the socket, ask again later
                log.warning("could not check an agent's session", exc_info=True)
                continue
            if ended:
                await ws.close(code=SESSION_ENDED, message=b"session ended")

    # hello goes first: the listener already queues events, the pump sends them after it
    await ws.send_json({"type": "hello", "agent": agent.username})
    helpers = [
        asyncio.create_task(pump(), name=f"inbox-ws-{agent.username}"),
        asyncio.create_task(watch(), name=f"inbox-ws-session-{agent.username}"),
    ]
    try:
        async for message in ws:
            # The page only listens; pings keep proxies from closing an idle socket.
            if message.type is WSMsgType.TEXT and message.data == "ping":
                await ws.send_str("pong")
    finally:
        gw.feed.unlisten(listener)
        for helper in helpers:
            helper.cancel()
        for helper in helpers:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await helper
        sockets.discard(ws)
        of_session.discard(ws)
        if not of_session:
            request.app[SESSIONS].sockets.pop(session.id, None)
    return ws


async def close_sockets(app: web.Application) -> None:
    """At shutdown: tell every open page to go away (it reconnects to the next server)."""
    sockets: set[web.WebSocketResponse[bool]] = app[SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=1001, message=b"server shutting down")
