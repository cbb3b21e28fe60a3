"""`[gateway] processes = N`: `inbox-gateway run` serves one address with N supervised workers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.support.config import GatewayConfig
from tests.support.daemon import Daemon
from tests.support.databases import fresh_postgres
from tests.support.polling import eventually
from tests.support.sockets import serving_process

pytestmark = pytest.mark.slow

WORKERS = 2


@asynccontextmanager
async def supervised(tmp_path: Path, postgres_url: str) -> AsyncIterator[Daemon]:
    """`inbox-gateway run` with WORKERS processes, every one of them serving."""
    with fresh_postgres(postgres_url) as database_url:
        config = GatewayConfig(database_url=database_url, processes=WORKERS, shutdown_grace=2)
        daemon = Daemon(tmp_path, config)
        await daemon.start()
        try:
            await eventually(lambda: len(daemon.worker_pids()) == WORKERS, 30)
            yield daemon
        finally:
            await daemon.stop()


async def answered_by(daemon: Daemon) -> int | None:
    """GET /healthz on a new connection; the worker that answered it."""
    host, port = daemon.config.listen.rsplit(":", 1)  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        client_port = writer.get_extra_info("sockname")[1]
        # the connection is still open: its server end is in the worker that accepted it
        return serving_process(daemon.worker_pids(), int(port), client_port)
    finally:
        writer.close()
        await writer.wait_closed()


async def healthz_count(daemon: Daemon) -> float:
    async with aiohttp.ClientSession() as http, http.get(daemon.url + "/metrics") as response:
        text = await response.text()
    found = re.search(r'inbox_http_requests_total\{[^}]*route="/healthz"[^}]*\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def test_every_worker_serves_the_address_and_metrics_add_them_up(
    tmp_path: Path, postgres_url: str
) -> None:
    async with supervised(tmp_path, postgres_url) as daemon:
        workers = daemon.worker_pids()
        seen: list[int | None] = []

        async def both_served() -> bool:
            seen.append(await answered_by(daemon))
            return set(seen) == workers

        await eventually(both_served, 30)
        # /metrics counts the requests every worker answered, whichever worker answers it
        assert await healthz_count(daemon) == len(seen)
        assert await daemon.stop() == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()


async def test_a_killed_worker_is_restarted_and_the_address_keeps_answering(
    tmp_path: Path, postgres_url: str
) -> None:
    async with supervised(tmp_path, postgres_url) as daemon:
        first = daemon.worker_pids()
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        survivors = first - {victim}
        # meanwhile the other worker answers every request
        for _ in range(20):
            assert await answered_by(daemon) in survivors | daemon.worker_pids()

        def replaced() -> bool:
            now = daemon.worker_pids()
            return len(now) == WORKERS and victim not in now

        await eventually(replaced, 30)
        replacement = (daemon.worker_pids() - survivors).pop()

        async def replacement_serves() -> bool:
            return await answered_by(daemon) == replacement

        await eventually(replacement_serves, 60)
        assert await daemon.stop() == 0


async def test_an_address_already_taken_is_named_and_nothing_starts(
    tmp_path: Path, postgres_url: str
) -> None:
    with socket.socket() as taken, fresh_postgres(postgres_url) as database_url:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = GatewayConfig(database_url=database_url, processes=WORKERS).on_port(port)
        daemon = Daemon(tmp_path, config)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--config",
            str(daemon.path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in errors.decode()
