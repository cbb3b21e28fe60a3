"""The real gateway application serving on 127.0.0.1, in this process.

    async with live_gateway(GatewayConfig(database_url=..., tokens={"crm": TOKEN})) as live:
        ...  # live.url, live.auth, live.gateway (the state: db, adapters, feed)

`start_gateway` is the same without the `async with`; `GatewayThread` serves it from a thread
of its own for synchronous callers (hypothesis, schemathesis). For the daemon as a separate
process (`python -m gateway run`), see `tests.support.daemon`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from gateway.app import build_app, daemon_runner
from gateway.background import OPTIONS, Options
from gateway.state import GATEWAY, Gateway
from tests.support.config import GatewayConfig
from tests.support.ports import free_port

T = TypeVar("T")
#: seconds a threaded gateway may take to start or stop before the test fails
THREAD_TIMEOUT = 30.0


@dataclass
class LiveGateway:
    """A started gateway: where it answers, its application and its configuration."""

    url: str
    app: web.Application
    runner: web.AppRunner
    config: GatewayConfig

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def gateway(self) -> Gateway:
        """The running daemon's state: database, adapters, event feed, directory."""
        return self.app[GATEWAY]

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the configuration's first API token."""
        if self.config.token is None:
            raise ValueError("the configuration has no API token")
        return {"Authorization": f"Bearer {self.config.token}"}

    async def stop(self) -> None:
        """Stop serving and run every cleanup (writer flushed, database closed)."""
        await self.runner.cleanup()


def gateway_app(
    config: GatewayConfig,
    *,
    adapter_classes: dict[str, type[Any]] | None = None,
    options: Options | None = None,
) -> web.Application:
    """The whole daemon as one application, not started (for aiohttp's test client)."""
    app = build_app(config.parse(), adapter_classes=adapter_classes)
    if options is not None:
        app[OPTIONS] = options
    return app


class DaemonTestServer(TestServer):
    """aiohttp's test server (for `aiohttp_client`), serving through the daemon's runner: its
    read timeouts and its answers to what aiohttp's parser refuses. (aiohttp's test server
    still cancels a handler whose client went away, which the daemon does not.)"""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return daemon_runner(self.app, **kwargs)


async def start_gateway(
    config: GatewayConfig,
    *,
    adapter_classes: dict[str, type[Any]] | None = None,
    options: Options | None = None,
    access_log: bool = True,
) -> LiveGateway:
    """Build the app as `inbox-gateway run` does and serve it (database migrated first).

    Without `listen` in `config` it gets a free port, with the public URL there too.
    `adapter_classes` replaces the entry-point registry (a test's own adapters); `options`
    sets the background knobs (jitter, sweep period, pacing clock). `access_log=False` drops
    the per-request log line, which a benchmark would otherwise measure.
    """
    if config.listen is None:
        config = config.on_port(free_port())
    assert config.listen is not None
    host, _, port = config.listen.rpartition(":")
    app = gateway_app(config, adapter_classes=adapter_classes, options=options)
    runner = daemon_runner(app) if access_log else daemon_runner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, int(port)).start()
    except BaseException:
        await runner.cleanup()
        raise
    return LiveGateway(f"http://{config.listen}", app, runner, config)


@asynccontextmanager
async def live_gateway(
    config: GatewayConfig,
    *,
    adapter_classes: dict[str, type[Any]] | None = None,
    options: Options | None = None,
    access_log: bool = True,
) -> AsyncIterator[LiveGateway]:
    """`start_gateway`, stopped when the block ends."""
    live = await start_gateway(
        config, adapter_classes=adapter_classes, options=options, access_log=access_log
    )
    try:
        yield live
    finally:
        await live.stop()


class GatewayThread:
    """A live gateway served by an event loop in a thread of its own.

    For synchronous tests that talk to it over sockets; `run` executes a coroutine (e.g. a
    database read through `live.gateway.db`) on the gateway's loop.

        with GatewayThread(config) as live:
            urllib.request.urlopen(live.url + "/healthz")
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        adapter_classes: dict[str, type[Any]] | None = None,
        options: Options | None = None,
    ) -> None:
        self.config = config
        self._adapter_classes = adapter_classes
        self._options = options
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._live: LiveGateway | None = None

    @property
    def live(self) -> LiveGateway:
        if self._live is None:
            raise RuntimeError("the gateway is not started")
        return self._live

    def start(self) -> LiveGateway:
        self._thread.start()
        self._live = self.run(
            start_gateway(self.config, adapter_classes=self._adapter_classes, options=self._options)
        )
        return self._live

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = THREAD_TIMEOUT) -> T:
        """Run `coroutine` on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def stop(self) -> None:
        if self._live is not None:
            self.run(self._live.stop())
            self._live = None
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=THREAD_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LiveGateway:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
