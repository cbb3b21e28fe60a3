"""Fixtures every test folder may ask for (registered by tests/conftest.py).

- `database_url`: an empty database, once on SQLite and, in the `postgres` run, once on
  PostgreSQL (the test runs for each).
- `gateways`: starts live gateways from a `GatewayConfig`; all are stopped after the test.
- `twilio`, `graph`: the loopback fakes of Twilio and the Graph API, started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.messenger.fake import FakeGraph
from adapters.twilio.fake import FakeTwilio
from gateway.background import Options
from tests.support.config import GatewayConfig
from tests.support.databases import empty_database
from tests.support.live import LiveGateway, start_gateway

#: parametrize a database fixture with this: the PostgreSQL case runs only in the `postgres` run
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

StartLive = Callable[..., Awaitable[LiveGateway]]


def backend_database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """An empty database of the backend in `request.param` (one of BACKENDS), while it exists."""
    server = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    with empty_database(request.param, folder, server) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and (in the PostgreSQL run) a PostgreSQL database."""
    yield from backend_database(request, tmp_path)


@pytest.fixture
async def gateways() -> AsyncIterator[StartLive]:
    """`await gateways(config, adapter_classes=..., options=...)`: a live gateway, stopped
    (newest first) when the test ends."""
    started: list[LiveGateway] = []

    async def start(
        config: GatewayConfig,
        *,
        adapter_classes: dict[str, type[Any]] | None = None,
        options: Options | None = None,
    ) -> LiveGateway:
        live = await start_gateway(config, adapter_classes=adapter_classes, options=options)
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        await live.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """The loopback Twilio, with its default credentials (see `twilio_channel(fake=...)`)."""
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """The loopback Graph API, with its default secrets (see `messenger_channel(fake=...)`)."""
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.stop()
