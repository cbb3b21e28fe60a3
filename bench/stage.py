"""One round of the inbound benches on one database: the daemon, its baselines, and the load's
knobs, shared by the scenarios (SMS, status callbacks, Messenger, web chat messages)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.api import Api
from bench.harness import Fakes, ServerProcess
from bench.stats import CpuMeter
from bench.writer_share import WriterShare, read_counters
from bench.wrk import RequestFile, WrkResult, replay
from tests.support import Daemon


@dataclass(frozen=True)
class Sizes:
    #: seconds each load lasts (the issue asks for at least 8)
    seconds: float
    #: distinct customers on each channel, each of whom has written once before the load
    customers: int
    #: open connections of the HTTP loads
    connections: int = 64
    #: web chat visitors sending messages, and the client processes they are spread over
    visitors: int = 64
    client_processes: int = 2
    #: requests made (and signed) ahead of a load, per second it lasts, before the first
    #: run has shown how fast the servers go
    requests_per_second: int = 4_000


DEFAULT = Sizes(seconds=10, customers=1_000)
QUICK = Sizes(seconds=3, customers=100, visitors=16, requests_per_second=2_000)


@dataclass
class Stage:
    """The servers of one round, and what the scenarios learn about the daemon."""

    backend: str
    #: how the tables name the database
    database: str
    folder: Path
    sizes: Sizes
    http: aiohttp.ClientSession
    daemon: Daemon
    bare: ServerProcess
    fakes: Fakes
    #: distinct per round, so that ids never repeat across rounds
    run: int = field(default_factory=lambda: random.randrange(16**8))

    @property
    def api(self) -> Api:
        return Api(self.http, self.daemon.url)

    @property
    def daemon_pid(self) -> int:
        assert self.daemon.process is not None, "the daemon is not running"
        return self.daemon.process.pid

    def request_file(self, name: str) -> RequestFile:
        return RequestFile(self.folder, name)

    def planned_requests(self, per_request: int = 1) -> int:
        """How many requests to make ahead of a load (each carrying `per_request` items)."""
        return int(self.sizes.requests_per_second * self.sizes.seconds * 1.2) // per_request + 1


@dataclass(frozen=True)
class Served:
    """One server's run of a replayed load."""

    wrk: WrkResult
    #: the server's CPU time and wall time during the load
    cpu: CpuMeter
    #: what the daemon's group-commit writer did meanwhile (None: not the daemon)
    writer: WriterShare | None = None

    @property
    def server_cpu(self) -> float:
        """The server's share of one core during the load."""
        return self.cpu.share

    @property
    def cpu_per_answer_us(self) -> float:
        """The server's CPU time per request answered 200, in µs."""
        return self.cpu.cpu_seconds / self.wrk.ok * 1e6 if self.wrk.ok else float("nan")


async def serve_load(
    url: str, pid: int, requests: RequestFile, sizes: Sizes, *, daemon: bool = False
) -> Served:
    """Replay `requests` against the server at `url` (process `pid`) for the load's duration;
    `daemon` when it is the gateway, whose writer's counters are read around the load."""
    before = await read_counters(url) if daemon else None
    meter = CpuMeter(pid)
    meter.start()
    result = await replay(
        url, requests, seconds=sizes.seconds, connections=sizes.connections, threads=1
    )
    meter.stop()
    writer = WriterShare(before, await read_counters(url)) if before is not None else None
    return Served(result, meter, writer)
