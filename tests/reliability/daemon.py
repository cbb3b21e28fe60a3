"""The daemon as a real process (`python -m gateway run`), to be killed and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

TOKEN = "reliability-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CONFIG = """
[gateway]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
shutdown_grace = 0

[database]
url = "sqlite:///{db}"

[api]
tokens = [{{ name = "crm", token = "{token}" }}]

[delivery]
retry_delays = {delays}
workers = 4

[channels.sms]
type = "twilio"
account_sid = "{sid}"
auth_token = "{auth}"
from_number = "+15550001111"
api_base_url = "{twilio}"
rate_per_second = 50
"""


class Daemon:
    """One configuration, started and SIGKILLed as often as a test likes."""

    def __init__(self, folder: Path, config: str) -> None:
        self.folder = folder
        self.config = folder / "inbox-gateway.toml"
        self.config.write_text(config)
        self.log = folder / "daemon.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, url: str) -> None:
        """Start the daemon and wait until it answers `/healthz`."""
        self.starts += 1
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "run",
                "--config",
                str(self.config),
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = asyncio.get_running_loop().time() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"the daemon exited: {self.log.read_text()[-3000:]}")
                try:
                    async with http.get(url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError("the daemon did not come up")
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        self.process = None

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()
        self.process = None
