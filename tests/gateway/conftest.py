"""A real gateway on 127.0.0.1, on each database, for the daemon's own tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from tests.support.config import TOKEN, Channel, GatewayConfig
from tests.support.fixtures import StartLive
from tests.support.live import LiveGateway

StartGateway = Callable[..., Awaitable[LiveGateway]]

__all__ = ["TOKEN", "LiveGateway", "StartGateway", "gateway_config", "start_gateway"]


def gateway_config(database_url: str) -> GatewayConfig:
    """The base of every gateway these tests start: an API token, short retry delays."""
    return GatewayConfig(
        database_url=database_url,
        business_name="Test Shop",
        max_body_bytes=65536,
        tokens={"crm": TOKEN},
        retry_delays=[0.2, 0.4],
    )


@pytest.fixture
def start_gateway(database_url: str, gateways: StartLive) -> StartGateway:
    """Start a gateway with these channels (tables, or TOML text) on the test's database.

    `db` picks another database; `extra` adds TOML text; any other keyword changes that
    field of the `GatewayConfig` (e.g. `agents=[...]`). Each is stopped when the test ends.
    """

    async def start(
        channels: str | Channel | Sequence[Channel] = "",
        *,
        extra: str = "",
        db: str | None = None,
        **changes: Any,
    ) -> LiveGateway:
        config = gateway_config(db or database_url).with_(**changes)
        if isinstance(channels, str):
            extra = f"{extra}\n{channels}"
        else:
            config = config.with_(
                channels=[channels] if isinstance(channels, Channel) else list(channels)
            )
        return await gateways(config.with_(extra=extra))

    return start
