"""`GET /inbox/api/media`: customer media that needs the provider's credentials (Twilio MMS).

The page asks for one media URL of one stored message. The gateway fetches it only when:
- the message is a participant's message that came in on that channel and carries the URL;
- the channel's adapter recognises the URL as one of its provider's media URLs
  (`channels.MediaSource.media_credentials`, which also gives the credentials).

The credentials go to that first URL (the provider's configured API host) only. A redirect is
followed, without credentials, only to where the adapter says its provider keeps media, never
to a loopback, private or link-local address unless it is that same API host (the loopback
fakes of tests and the sandbox), and at most `MAX_REDIRECTS` times. The answer is capped in
size and time, and served inert (sandboxed, never sniffed, HTML as a download).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from sqlmodel import Session
from yarl import URL

from channels import Direction, MediaSource, basic_auth
from gateway.state import GATEWAY
from gateway.store.models import MessageRow
from gateway.web.inbox.auth import agent_reading_url

#: the largest media file relayed (Twilio takes at most 5 MB of media per message)
MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10, sock_read=15)
_REDIRECTS = (301, 302, 303, 307, 308)
_INLINE = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/")


class Refused(Exception):
    """The media (or where it redirects) is not fetched; the text says why."""


def media_channels(app: web.Application) -> list[str]:
    """The channels whose inbound media the page loads through this endpoint."""
    adapters = app[GATEWAY].adapters
    return sorted(cid for cid, adapter in adapters.items() if isinstance(adapter, MediaSource))


async def media(request: web.Request) -> web.StreamResponse:
    """Fetch one media URL of a stored inbound message and stream it back inert."""
    await agent_reading_url(request)
    gw = request.app[GATEWAY]
    channel_id = request.query.get("channelId", "")
    message_id = request.query.get("messageId", "")
    url = request.query.get("url", "")
    adapter = gw.adapters.get(channel_id)
    if not isinstance(adapter, MediaSource) or not url.startswith(("http://", "https://")):
        raise web.HTTPNotFound(text="no such media")
    credentials = adapter.media_credentials(url)
    if credentials is None:
        raise web.HTTPNotFound(text="no such media")
    if not await gw.db.read(lambda s: _received(s, channel_id, message_id, url)):
        raise web.HTTPNotFound(text="no such media")
    first = URL(url)
    session = aiohttp.ClientSession(
        timeout=TIMEOUT,
        connector=aiohttp.TCPConnector(resolver=PublicResolver(allowed=first.host or "")),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        # relayed byte for byte, so the length and encoding announced stay true
        auto_decompress=False,
    )
    try:
        async with session:
            upstream = await _follow(session, adapter, first, basic_auth(*credentials))
            async with upstream:
                return await _relay(request, upstream)
    except Refused as refused:
        raise web.HTTPBadGateway(text=str(refused)) from None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        raise web.HTTPBadGateway(text="the provider could not be reached") from None


def _received(session: Session, channel_id: str, message_id: str, url: str) -> bool:
    """Whether `url` is media of a participant's message that came in on `channel_id`."""
    if not message_id or len(message_id) > 40:
        return False
    row = session.get(MessageRow, message_id)
    if row is None or row.source_channel_id != channel_id:
        return False
    if row.direction != Direction.PARTICIPANT_TO_BUSINESS:
        return False
    return url in _media_urls(row.content)


def _media_urls(content: Any) -> set[str]:
    """The image and file URLs of a stored content (basic items and form media)."""
    urls: set[str] = set()
    if not isinstance(content, dict):
        return urls
    items: list[Any] = []
    for payload, key in (("basic", "items"), ("form", "media")):
        section = content.get(payload)
        if isinstance(section, dict) and isinstance(section.get(key), list):
            items.extend(section[key])
    for item in items:
        for kind in ("image", "file"):
            media = item.get(kind) if isinstance(item, dict) else None
            if isinstance(media, dict) and isinstance(media.get("url"), str):
                urls.add(media["url"])
    return urls


async def _follow(
    session: aiohttp.ClientSession, adapter: MediaSource, first: URL, auth: str
) -> aiohttp.ClientResponse:
    """GET the media URL with credentials, then each allowed redirect without them."""
    target = first
    for hop in range(MAX_REDIRECTS + 1):
        upstream = await session.get(
            target,
            allow_redirects=False,
            headers={
                "Accept-Encoding": "identity",
                **({"Authorization": auth} if hop == 0 else {}),
            },
        )
        location = upstream.headers.get("Location")
        if upstream.status not in _REDIRECTS or location is None:
            return upstream
        upstream.release()
        target = upstream.url.join(URL(location))
        _check_redirect(adapter, first, target)
    raise Refused("the provider redirected too many times")


def _headers(auth: str | None) -> dict[str, str]:
    """Ask for the bytes as stored; only the first request carries the credentials."""
    headers = {"Accept-Encoding": "identity"}
    if auth is not None:
        headers["Authorization"] = auth
    return headers


def _check_redirect(adapter: MediaSource, first: URL, target: URL) -> None:
    if target.scheme not in ("http", "https") or not target.host:
        raise Refused("the provider redirected to something that is not a web address")
    if not adapter.media_redirect_allowed(str(target)):
        raise Refused(f"the provider redirected to {target.host}, which is not its media host")
    if (target.host, target.port) == (first.host, first.port):
        return  # the configured API host itself
    try:
        address = ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        return  # a name: PublicResolver checks what it resolves to, when connecting
    if not is_public(str(address)):
        raise Refused(f"the provider redirected to {target.host}, a private address")


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local…)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_global and not parsed.is_multicast


class PublicResolver(AbstractResolver):
    """Resolves names to public addresses only, except `allowed` (the configured API host).

    Checking when connecting, not before, leaves no gap for a name that resolves to a public
    address first and to an internal one a moment later.
    """

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed.lower()
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if host.lower() == self.allowed:
            return found
        public = [entry for entry in found if is_public(entry["host"])]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._resolver.close()


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    if upstream.status != 200:
        raise Refused(f"the provider answered {upstream.status}")
    if upstream.content_length is not None and upstream.content_length > MAX_BYTES:
        raise Refused("the media file is too large")
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
    encoding = upstream.headers.get("Content-Encoding")
    if encoding is not None:
        response.headers["Content-Encoding"] = encoding
    if upstream.content_length is not None:
        # a file cut short then shows as broken rather than as complete
        response.content_length = upstream.content_length
    await response.prepare(request)
    sent = 0
    async for chunk in upstream.content.iter_chunked(65536):
        sent += len(chunk)
        if sent > MAX_BYTES:
            # Past the cap with no length announced: end the connection, so the page sees a
            # broken file instead of a complete-looking part of one.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write(chunk)
    await response.write_eof()
    return response
