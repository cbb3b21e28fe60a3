"""A webhook subscriber on the loopback that records what it gets and answers as told."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.events.subscribers.signature import HEADER, verify
from tests.support.config import Webhook


@dataclass
class Received:
    body: dict[str, Any]
    raw: bytes
    signature: str


@dataclass
class Subscriber:
    """Answers `status` (or the next of `statuses`) and records every POST it got."""

    secret: str = "subscriber-secret"
    status: int = 200
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.received.append(Received(json.loads(raw), raw, request.headers.get(HEADER, "")))
        status = self.statuses.pop(0) if self.statuses else self.status
        return web.Response(status=status)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Bodies of the POSTs answered 2xx, deduplicated by event id as a consumer would."""
        seen: dict[str, dict[str, Any]] = {}
        for item in self.received:
            seen.setdefault(item.body["id"], item.body)
        return list(seen.values())

    def ids(self) -> list[str]:
        return [b["id"] for b in self.accepted]

    def all_signed(self) -> bool:
        return all(verify(self.secret, r.raw, r.signature) for r in self.received)

    def webhook(self, events: list[str] | None = None) -> Webhook:
        """The `[[webhooks]]` entry of this subscriber (`events` None: every event)."""
        return Webhook(self.url, self.secret, events)


@asynccontextmanager
async def subscriber(**kwargs: Any) -> AsyncIterator[Subscriber]:
    sub = Subscriber(**kwargs)
    app = web.Application()
    app.router.add_post("/hook", sub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sub.url = str(server.make_url("/hook"))
    try:
        yield sub
    finally:
        await server.close()
