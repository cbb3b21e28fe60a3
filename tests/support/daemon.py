"""The daemon as a real process (`python -m gateway run`), to be started, killed and restarted.

daemon = Daemon(tmp_path, GatewayConfig(database_url=sqlite_url(tmp_path), ...))
await daemon.start()          # returns once /readyz answers 200
...                           # daemon.url, daemon.auth, daemon.log (its stdout and stderr)
await daemon.kill()           # SIGKILL, as in a power cut
await daemon.start()          # same port, same database
assert await daemon.stop() == 0   # SIGTERM: a clean stop exits 0
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.support.config import GatewayConfig
from tests.support.ports import free_port

#: seconds the daemon may take to answer /readyz after it was started
START_TIMEOUT = 30.0
#: seconds a SIGTERMed daemon may take to exit before it is killed
STOP_TIMEOUT = 15.0


class Daemon:
    """One configuration file and the processes run from it, one at a time."""

    def __init__(
        self,
        folder: Path,
        config: GatewayConfig,
        *,
        env: Mapping[str, str] | None = None,
        name: str = "inbox-gateway",
    ) -> None:
        if config.listen is None:
            # fixed once, so that every restart answers at the same address
            config = config.on_port(free_port())
        self.config = config
        self.folder = folder
        self.path = folder / f"{name}.toml"
        self.path.write_text(config.toml(), encoding="utf-8")
        #: the processes' stdout and stderr, appended start after start
        self.log = folder / f"{name}.log"
        #: the environment of the process (default: this one's)
        self.env = dict(os.environ if env is None else env)
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{self.config.listen}"

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the configuration's first API token."""
        if self.config.token is None:
            raise ValueError("the configuration has no API token")
        return {"Authorization": f"Bearer {self.config.token}"}

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start the daemon and wait until it answers `/readyz` (its database answers)."""
        self.starts += 1
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "run",
                "--config",
                str(self.path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**self.env, "PYTHONUNBUFFERED": "1"},
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"the daemon exited with {self.process.returncode}: {self.tail()}"
                    )
                try:
                    async with http.get(self.url + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.kill()
                    raise AssertionError(f"the daemon did not come up: {self.tail()}")
                await asyncio.sleep(0.05)

    def worker_pids(self) -> set[int]:
        """The processes `run` started to serve the address (`processes` above 1)."""
        if self.process is None:
            return set()
        pids: set[int] = set()
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                pids.update(int(p) for p in (task / "children").read_text().split())
        return pids

    def tail(self, size: int = 3000) -> str:
        """The end of the log, for a failure message."""
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        self.process = None

    async def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; answers the exit code (None: it was not running).

        A daemon that does not exit within STOP_TIMEOUT is killed.
        """
        process, code = self.process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                await self.kill()
        elif process is not None:
            code = process.returncode
        self.process = None
        return code


@asynccontextmanager
async def running_daemon(
    folder: Path, config: GatewayConfig, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[Daemon]:
    """A started daemon, stopped (SIGTERM) when the block ends if it still runs."""
    daemon = Daemon(folder, config, env=env)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()
