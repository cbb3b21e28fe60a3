"""`/metrics` is open by default (a private port), and behind a bearer token when one is set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.config import ConfigError, parse_config

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
METRICS_TOKEN = "metrics-token-0123456789abcdef"


def config(tmp_path: Path, gateway: str = "") -> str:
    return f'[gateway]\n{gateway}\n[database]\nurl = "sqlite:///{tmp_path / "inbox.db"}"\n'


async def test_metrics_need_the_token_when_one_is_set(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    text = config(tmp_path, f'metrics_token = "{METRICS_TOKEN}"')
    client = await aiohttp_client(build_app(parse_config(text)))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "inbox_http_requests" not in await refused.text()
    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status == 200
    assert "inbox_http_requests" in await allowed.text()
    # the health checks stay open for load balancers
    assert (await client.get("/healthz")).status == 200


async def test_metrics_are_open_without_a_token(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(build_app(parse_config(config(tmp_path))))
    assert (await client.get("/metrics")).status == 200


def test_a_short_metrics_token_is_a_config_error(tmp_path: Path) -> None:
    try:
        parse_config(config(tmp_path, 'metrics_token = "short"'))
    except ConfigError as error:
        assert error.problems[0].startswith("config error: gateway.metrics_token:")
    else:
        raise AssertionError("a short token was accepted")
