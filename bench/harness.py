"""What every bench starts: the daemon's configuration, the providers' fakes, the baselines,
and the databases, each server a real process on 127.0.0.1.

The gateway runs as `python -m gateway run` (tests.support's `Daemon`) from a configuration
that differs from a default one only where a bench must: channels pointed at the loopback
fakes, and the abuse limits raised (`RAISED_LIMITS`), since a load from one address would
otherwise be refused as the flood it looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from tests.support import (
    Channel,
    Daemon,
    GatewayConfig,
    empty_database,
    free_port,
    messenger_channel,
    twilio_channel,
    webchat_channel,
)
from tests.support.databases import POSTGRES_ENV

TOKEN = "bench-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "b" * 32
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token"
BUSINESS_NUMBER = "+15550001111"
PAGE_ID = "100200300400"
PAGE_TOKEN = "bench-page-token"
APP_SECRET = "bench-app-secret"
#: the site the web chat widget is embedded in
ORIGIN = "http://shop.bench.example"
#: a bench load comes from one address and a few visitors: the web chat's limits per visitor
#: and per client address are raised so that it measures speed, not the limits
RAISED_LIMITS: dict[str, Any] = {
    "flood_messages": 1_000_000_000,
    "flood_seconds": 1.0,
    "sessions_per_minute": 1_000_000,
    "sessions_per_minute_total": 10_000_000,
    "messages_per_minute": 1_000_000,
    "messages_per_minute_total": 10_000_000,
    "sockets_per_address": 1_000_000,
    "sockets_total": 10_000_000,
    "read_sync_frames": 1_000_000,
    "read_sync_seconds": 1.0,
}
#: seconds a server may take to answer its health check after it was started
START_TIMEOUT = 60.0


# -- databases -------------------------------------------------------------------------------


def backends() -> list[str]:
    """SQLite, and PostgreSQL when INBOX_TEST_POSTGRES_URL names a server."""
    return ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@contextlib.contextmanager
def database(backend: str, folder: Path, name: str = "inbox.db") -> Iterator[str]:
    """An empty database: a SQLite file `name` in `folder`, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / name}"
        return
    with empty_database(backend, folder, os.environ.get(POSTGRES_ENV, "")) as url:
        yield url


def backend_name(backend: str) -> str:
    """How the tables name a backend: PostgreSQL says whether its commits are durable."""
    if backend == "sqlite":
        return "SQLite"
    server = os.environ.get(POSTGRES_ENV, "")
    try:
        with psycopg.connect(server, autocommit=True) as connection:
            fsync = connection.execute("SHOW fsync").fetchone()
            commit = connection.execute("SHOW synchronous_commit").fetchone()
    except psycopg.Error:
        return "PostgreSQL"
    if fsync and fsync[0] == "off":
        return "PostgreSQL (fsync off)"
    if commit and commit[0] == "off":
        return "PostgreSQL (synchronous_commit off)"
    return "PostgreSQL"


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A temporary folder for databases, logs and request files; kept (and named on stderr)
    when BENCH_KEEP is set, to look at the daemon's log afterwards."""
    if os.environ.get("BENCH_KEEP"):
        kept = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
        print(f"bench: files kept in {kept}", file=sys.stderr)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as folder:
        yield Path(folder)


# -- servers ---------------------------------------------------------------------------------


class ServerProcess:
    """A Python module serving HTTP on 127.0.0.1 in a process of its own."""

    def __init__(self, folder: Path, name: str, module: str, args: Sequence[str], port: int):
        self.folder = folder
        self.name = name
        self.port = port
        self.argv = [sys.executable, "-m", module, *args]
        self.log = folder / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not started"
        return self.process.pid

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        await wait_healthy(self.url + "/healthz", self.process, self.log)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def wait_healthy(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Wait until `url` answers 200, failing if the process exits or never answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{url}: the server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            if loop.time() > deadline:
                raise RuntimeError(f"{url}: no answer within {START_TIMEOUT:g} s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(server: ServerProcess | Daemon) -> AsyncIterator[None]:
    """A started server, stopped when the block ends."""
    await server.start()
    try:
        yield
    finally:
        await server.stop()


def bare(folder: Path) -> ServerProcess:
    """The bare aiohttp handlers (parse, answer, store nothing)."""
    port = free_port()
    return ServerProcess(folder, "bare", "bench.baselines", ["bare", "--port", str(port)], port)


def naive(folder: Path, database_url: str) -> ServerProcess:
    """The naive SQLModel handlers, storing in `database_url`."""
    port = free_port()
    args = ["naive", "--port", str(port), "--database", database_url]
    return ServerProcess(folder, "naive", "bench.baselines", args, port)


@dataclass
class Fakes:
    """Twilio's and the Graph API's fakes, served by `bench.fakes` in a process of its own."""

    server: ServerProcess
    twilio_url: str
    graph_url: str

    @classmethod
    def make(cls, folder: Path, customers: int) -> Fakes:
        twilio, graph, control = free_port(), free_port(), free_port()
        args = [
            f"--twilio-port={twilio}",
            f"--graph-port={graph}",
            f"--control-port={control}",
            f"--psids={customers}",
            f"--account-sid={ACCOUNT_SID}",
            f"--auth-token={TWILIO_AUTH_TOKEN}",
            f"--page-token={PAGE_TOKEN}",
            f"--app-secret={APP_SECRET}",
        ]
        server = ServerProcess(folder, "fakes", "bench.fakes", args, control)
        return cls(server, f"http://127.0.0.1:{twilio}", f"http://127.0.0.1:{graph}")

    async def sent_count(self, http: aiohttp.ClientSession) -> int:
        async with http.get(self.server.url + "/twilio/count") as response:
            return int((await response.json())["count"])

    async def sent(self, http: aiohttp.ClientSession, after: int = 0) -> list[dict[str, str]]:
        """The messages the Twilio fake accepted, from the `after`-th on."""
        async with http.get(self.server.url + "/twilio/sent", params={"after": after}) as r:
            return list((await r.json())["messages"])

    async def graph_sent(
        self, http: aiohttp.ClientSession, after: int = 0
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many messages the Graph API fake accepted, and those from the `after`-th on
        (recipient, text, and when it accepted each, milliseconds since the epoch)."""
        async with http.get(self.server.url + "/graph/sent", params={"after": after}) as r:
            body = await r.json()
            return int(body["count"]), list(body["messages"])


@contextlib.asynccontextmanager
async def fakes_in_workspace(customers: int) -> AsyncIterator[tuple[Path, Fakes]]:
    """A workspace (see `workspace`) and the providers' fakes serving from it, for a bench's
    rounds; stopped when the block ends."""
    with workspace() as folder:
        fakes = Fakes.make(folder, customers=customers)
        async with running(fakes.server):
            yield folder, fakes


def error_lines(log: Path, since: int = 0) -> list[str]:
    """The ERROR (and worse) lines a daemon logged after byte `since` of its log."""
    if not log.exists():
        return []
    with log.open("rb") as file:
        file.seek(since)
        text = file.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        try:
            level = str(json.loads(line).get("level", ""))
        except ValueError:  # not one of its JSON lines: a traceback printed by Python itself
            level = "error" if "Traceback" in line or " ERROR " in line else ""
        if level in ("error", "critical"):
            found.append(line)
    return found


def errors_detail(errors: list[str]) -> str:
    """How many ERROR lines a daemon logged, and the first in short: a bench's table says
    what went wrong, since the daemon's folder is gone when it ends (unless BENCH_KEEP)."""
    return f"{len(errors)}" + (f": {summary(errors[0])}" if errors else "")


def summary(line: str) -> str:
    """One log line in short: who logged what, and the last line of its traceback."""
    try:
        data = json.loads(line)
    except ValueError:
        return line[:300]
    error = str(data.get("error", "")).strip().splitlines()
    where = f"{data.get('level', '')} {data.get('logger', '')}: {data.get('message', '')}"
    return (where + (f" ({error[-1]})" if error else ""))[:300]


# -- the daemon ------------------------------------------------------------------------------


def channels(fakes: Fakes, *, sms_rate_per_second: float | None = None) -> list[Channel]:
    """SMS `sms`, Messenger `fb` and web chat `chat`, their providers being the fakes.

    `sms_rate_per_second=0` turns the SMS channel's pacing off (unset, Twilio's default of one
    message a second applies).
    """
    return [
        twilio_channel(
            "sms",
            account_sid=ACCOUNT_SID,
            auth_token=TWILIO_AUTH_TOKEN,
            from_number=BUSINESS_NUMBER,
            api_base_url=fakes.twilio_url,
            rate_per_second=sms_rate_per_second,
        ),
        messenger_channel(
            "fb",
            page_id=PAGE_ID,
            page_access_token=PAGE_TOKEN,
            app_secret=APP_SECRET,
            graph_base_url=fakes.graph_url + "/",
        ),
        webchat_channel("chat", allowed_origins=[ORIGIN], **RAISED_LIMITS),
    ]


def daemon(
    folder: Path, database_url: str, fakes: Fakes, *, sms_rate_per_second: float | None = None
) -> Daemon:
    """The gateway as `inbox-gateway run` runs it, with the bench's channels and API token."""
    folder.mkdir(parents=True, exist_ok=True)
    config = GatewayConfig(
        database_url=database_url,
        business_name="Bench Shop",
        tokens={"bench": TOKEN},
        channels=channels(fakes, sms_rate_per_second=sms_rate_per_second),
    )
    return Daemon(folder, config)
