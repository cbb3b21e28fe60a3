"""`GET /inbox/api/media`: customer media that needs the provider's credentials (Twilio MMS).

The channel's adapter says which URLs are its provider's and which credentials fetch them
(`channels.MediaSource`); any other URL is refused, so the endpoint cannot be used to reach
other hosts. Credentials go to the provider's own host only: a redirect (to a storage host)
is followed without them. What comes back is served inert (sandboxed, never sniffed, HTML as
a download).
"""

from __future__ import annotations

import base64

import aiohttp
from aiohttp import web
from yarl import URL

from channels import MediaSource
from gateway.state import GATEWAY
from gateway.web.inbox.auth import require_agent

MAX_BYTES = 20 * 1024 * 1024
_INLINE = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/")


def media_channels(app: web.Application) -> list[str]:
    """The channels whose inbound media the page loads through this endpoint."""
    adapters = app[GATEWAY].adapters
    return sorted(cid for cid, adapter in adapters.items() if isinstance(adapter, MediaSource))


async def media(request: web.Request) -> web.StreamResponse:
    """Fetch one media URL with the channel's credentials and stream it back inert."""
    await require_agent(request)
    gw = request.app[GATEWAY]
    adapter = gw.adapters.get(request.query.get("channelId", ""))
    url = request.query.get("url", "")
    credentials = adapter.media_credentials(url) if isinstance(adapter, MediaSource) else None
    if credentials is None or not url.startswith(("http://", "https://")):
        raise web.HTTPNotFound(text="no such media")
    login, password = credentials
    auth = {"Authorization": basic_auth(login, password)}
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            first = await session.get(url, headers=auth, allow_redirects=False)
            location = first.headers.get("Location") if 300 <= first.status < 400 else None
            if location is not None:
                first.release()
                upstream = await session.get(first.url.join(URL(location)))
            else:
                upstream = first
            async with upstream:
                return await _relay(request, upstream)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        raise web.HTTPBadGateway(text="the provider could not be reached") from None


def basic_auth(login: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic authentication (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    if upstream.status != 200:
        raise web.HTTPBadGateway(text=f"the provider answered {upstream.status}")
    kind = upstream.content_type or "application/octet-stream"
    inline = kind.startswith(_INLINE)
    response = web.StreamResponse(
        headers={
            "Content-Type": kind if inline else "application/octet-stream",
            "Content-Disposition": "inline" if inline else "attachment",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        }
    )
    await response.prepare(request)
    sent = 0
    async for chunk in upstream.content.iter_chunked(65536):
        sent += len(chunk)
        if sent > MAX_BYTES:
            break
        await response.write(chunk)
    await response.write_eof()
    return response
