"""The agents' inbox web page: `/inbox/` (page), `/inbox/api/…` (JSON), `/inbox/ws` (live)."""

from __future__ import annotations

from importlib.resources import files

from aiohttp import web

from gateway.limits import Slots
from gateway.state import GATEWAY
from gateway.web.inbox import auth, live, media, views
from gateway.web.inbox.sessions import SessionStore

#: the page runs only its own script and style; customer data can never become code
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' https: http:; media-src 'self' https: http:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "inbox.js": "application/javascript; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Opening a customer's link must not tell their site which conversation it came from.
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> web.Response:
    body = files("gateway.web.inbox").joinpath("static", name).read_bytes()
    return web.Response(
        body=body,
        headers={**SECURITY_HEADERS, "Content-Type": STATIC[name], "Cache-Control": "no-cache"},
    )


async def page(_: web.Request) -> web.Response:
    """`GET /inbox/`: the single-page app (it logs in through the API)."""
    return _asset("index.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC or name == "index.html":
        raise web.HTTPNotFound()
    return _asset(name)


async def config_view(request: web.Request) -> web.Response:
    """`GET /inbox/api/config`: what the page needs to know about the channels."""
    await auth.require_agent(request)
    gw = request.app[GATEWAY]
    channels = [
        {"channelId": info.channel_id, "channelType": info.channel_type, "type": info.adapter_type}
        for info in gw.directory.values()
    ]
    return web.json_response(
        {"channels": channels, "mediaChannels": media.media_channels(request.app)}
    )


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/inbox/api/") and "Content-Security-Policy" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"


def setup(app: web.Application) -> None:
    """Add the inbox page's routes and resources to the gateway's application."""
    slots = app[GATEWAY].config.limits.password_check_slots
    store = SessionStore(app[GATEWAY].db)
    app[auth.SESSIONS] = auth.Sessions(store=store, password_checks=Slots(slots))
    app[live.SOCKETS] = set()
    app.on_shutdown.append(live.close_sockets)
    app.on_response_prepare.append(_no_store)
    router = app.router
    router.add_get("/inbox", _to_page)
    router.add_get("/inbox/", page)
    router.add_get("/inbox/static/{name}", asset)
    router.add_get("/inbox/ws", live.socket)
    router.add_post("/inbox/api/login", auth.login)
    router.add_post("/inbox/api/logout", auth.logout)
    router.add_get("/inbox/api/me", auth.me)
    router.add_get("/inbox/api/config", config_view)
    router.add_get("/inbox/api/conversations", views.conversations)
    router.add_get("/inbox/api/conversations/{id}", views.conversation)
    router.add_post("/inbox/api/conversations/{id}/messages", views.reply)
    router.add_get("/inbox/api/media", media.media)


async def _to_page(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/inbox/")
