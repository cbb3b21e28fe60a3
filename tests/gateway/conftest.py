"""A real gateway on 127.0.0.1, with real SQLite files, for the daemon's own tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from gateway.app import build_app
from gateway.config import parse_config
from gateway.state import GATEWAY, Gateway

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveGateway:
    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def stop(self) -> None:
        await self.runner.cleanup()


StartGateway = Callable[..., Awaitable[LiveGateway]]


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    """Start gateways from TOML channel tables; `{public_url}` and `{db}` are filled in."""
    started: list[LiveGateway] = []

    async def start(channels: str = "", *, extra: str = "", db: Path | None = None) -> LiveGateway:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        database = db or tmp_path / "inbox.db"
        text = f"""
[gateway]
listen = "127.0.0.1:{port}"
public_url = "{url}"
business_name = "Test Shop"
max_body_bytes = 65536

[database]
url = "sqlite:///{database}"

[api]
tokens = [{{ name = "crm", token = "{TOKEN}" }}]

[delivery]
retry_delays = [0.2, 0.4]

{extra}
{channels}
""".replace("{public_url}", url)
        app = build_app(parse_config(text))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        live = LiveGateway(url, app, runner)
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        await live.stop()
