"""`GET /inbox/api/media`: customer media that needs the provider's credentials (Twilio MMS).

Only URLs on a configured Twilio channel's API host are fetched, with that channel's account
credentials; anything else is refused, so the endpoint cannot be used to reach other hosts.
What comes back is served inert (sandboxed, never sniffed, HTML as a download).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from gateway.inbox_page.auth import require_agent
from gateway.state import GATEWAY

MAX_BYTES = 20 * 1024 * 1024
_INLINE = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/")


def media_prefixes(app: web.Application) -> dict[str, str]:
    """Per Twilio channel, the URL prefix whose media the page loads through this endpoint."""
    gw = app[GATEWAY]
    prefixes = {}
    for channel_id, spec in gw.specs.items():
        base = _twilio_base(spec.config)
        if base is not None:
            prefixes[channel_id] = base + "/"
    return prefixes


def _twilio_base(config: Any) -> str | None:
    base = getattr(config, "api_base_url", None)
    if isinstance(base, str) and getattr(config, "account_sid", None):
        return base.rstrip("/")
    return None


async def media(request: web.Request) -> web.StreamResponse:
    """Fetch one media URL with the channel's credentials and stream it back inert."""
    await require_agent(request)
    gw = request.app[GATEWAY]
    channel_id = request.query.get("channelId", "")
    url = request.query.get("url", "")
    spec = gw.specs.get(channel_id)
    base = _twilio_base(spec.config) if spec else None
    if spec is None or base is None or not url.startswith(base + "/") or ".." in url:
        raise web.HTTPNotFound(text="no such media")
    auth = aiohttp.BasicAuth(str(getattr(spec.config, "account_sid", "")), _token(spec.config))
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, auth=auth) as upstream,
    ):
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


def _token(config: Any) -> str:
    token = getattr(config, "auth_token", "")
    return token if isinstance(token, str) else str(token)
