"""A real gateway on 127.0.0.1, with real SQLite files, for the daemon's own tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from gateway.app import build_app
from gateway.config import parse_config
from gateway.state import GATEWAY, Gateway
from tests.databases import fresh_postgres, sqlite_url

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and (in the PostgreSQL run) a PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    server = request.getfixturevalue("postgres_url")
    with fresh_postgres(server) as url:
        yield url


@pytest.fixture
async def start_gateway(database_url: str) -> AsyncIterator[StartGateway]:
    """Start gateways from TOML channel tables; `{public_url}` is filled in."""
    started: list[LiveGateway] = []

    async def start(channels: str = "", *, extra: str = "", db: str | None = None) -> LiveGateway:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        database = db or database_url
        text = f"""
[gateway]
listen = "127.0.0.1:{port}"
public_url = "{url}"
business_name = "Test Shop"
max_body_bytes = 65536

[database]
url = "{database}"

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
