"""`/metrics` tells how busy the group-commit writer is: transactions, the writes they held and
the time they took, apart for requests and background bookkeeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import build_app
from gateway.config import parse_config

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
TOKEN = "writer-metrics-token-0123456789"


def config(tmp_path: Path) -> str:
    return (
        f'[database]\nurl = "sqlite:///{tmp_path / "inbox.db"}"\n'
        f'[api]\ntokens = [{{ name = "crm", token = "{TOKEN}" }}]\n'
    )


def sample(text: str, name: str, part: str) -> float:
    """The value of `name{part="…"}` in the Prometheus text (0 when it is not there yet)."""
    found = (
        point.value
        for family in text_string_to_metric_families(text)
        for point in family.samples
        if point.name == name and point.labels.get("part") == part
    )
    return next(found, 0.0)


async def test_metrics_count_the_writers_transactions_writes_and_busy_time(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(build_app(parse_config(config(tmp_path))))
    before = await (await client.get("/metrics")).text()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def create(n: int) -> None:
        body = {"displayName": f"Ann {n}", "identities": []}
        response = await client.post("/inbox/v2/contacts", json=body, headers=auth)
        assert response.status == 200, await response.text()

    await asyncio.gather(*(create(n) for n in range(12)))
    after = await (await client.get("/metrics")).text()

    def grew(name: str) -> float:
        return sample(after, name, "requests") - sample(before, name, "requests")

    assert grew("inbox_writer_writes_total") == 12
    # twelve requests at once share transactions
    assert 1 <= grew("inbox_writer_transactions_total") <= 12
    assert grew("inbox_writer_busy_seconds_total") > 0
