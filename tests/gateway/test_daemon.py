"""The daemon process: health endpoints, metrics, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp

from tests.support.config import TOKEN, GatewayConfig, webchat_channel
from tests.support.daemon import Daemon
from tests.support.ports import free_port


def daemon(tmp_path: Path) -> Daemon:
    """The daemon on a SQLite file beside its config, with no Twilio credentials around."""
    config = GatewayConfig(database_url="sqlite:///inbox.db", business_name=None)
    config = config.on_port(free_port())
    config = config.with_(
        tokens={"crm": TOKEN}, channels=[webchat_channel(allowed_origins=[config.url])]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    return Daemon(tmp_path, config, env=env)


async def test_health_ready_and_metrics_answer(tmp_path: Path) -> None:
    running = daemon(tmp_path)
    await running.start()
    try:
        async with aiohttp.ClientSession(running.url) as http:
            async with http.get("/healthz") as response:
                assert await response.json() == {"status": "ok"}
            async with http.get("/metrics") as response:
                text = await response.text()
        assert "inbox_http_requests_total" in text
        assert "inbox_writer_queue_depth" in text
    finally:
        await running.stop()


async def test_sigterm_stops_the_daemon_cleanly_and_logs_json(tmp_path: Path) -> None:
    running = daemon(tmp_path)
    await running.start()
    assert await running.stop() == 0
    lines = running.log.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any("listening" in r["message"] for r in records)
    assert (tmp_path / "inbox.db").exists()
    # The database was closed cleanly: no write-ahead log is left behind to replay.
    wal = tmp_path / "inbox.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
