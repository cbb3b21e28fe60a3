"""Adapters count their doors through the gateway's one limits service, reached via their host."""

from __future__ import annotations

from adapters.webchat import WebchatAdapter
from channels.testing import RecordingHost
from tests.gateway.conftest import StartGateway
from tests.support.config import webchat_channel


async def test_a_use_counted_through_a_channels_host_is_counted_by_the_gateway(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(webchat_channel())
    adapter = live.gateway.adapters["chat"]
    assert isinstance(adapter, WebchatAdapter)
    assert await adapter.host.limits.take("door", "203.0.113.9", limit=1, per_seconds=60) is None
    # the same key, counted by the daemon itself, is over its limit: one service, not two
    wait = await live.gateway.limits.take("door", "203.0.113.9", limit=1, per_seconds=60)
    assert wait is not None and 0 < wait <= 60
    assert await live.gateway.limits.take("door", "203.0.113.10", limit=1, per_seconds=60) is None


async def test_the_recording_host_counts_like_the_gateway() -> None:
    host = RecordingHost()
    assert await host.limits.acquire("sockets", "v_a", capacity=1)
    assert not await host.limits.acquire("sockets", "v_a", capacity=1)
    await host.limits.release("sockets", "v_a")
    assert await host.limits.acquire("sockets", "v_a", capacity=1)
