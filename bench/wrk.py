"""The HTTP load generator: Debian's `wrk`, replaying a file of pre-signed requests.

Signing a webhook costs more than sending it, so every request is made (and signed) before
the clock starts and written to a file; `replay.lua` walks through it, each request once.
wrk is written in C and answers for itself: its share of a core is printed with every run,
so a reader can see that the load generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("replay.lua")
LATENCIES = ("p50_ms", "p90_ms", "p99_ms", "max_ms")


def ensure_wrk() -> str:
    """The path of `wrk`, installed from Debian's packages first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install it with 'sudo apt-get install wrk'")
    print("installing Debian's wrk with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    options = ["-y", "-q", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends"]
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=sys.stderr)
    subprocess.run(["apt-get", "install", *options, "wrk"], check=True, env=env, stdout=sys.stderr)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk, but it is not on PATH")
    return found


def wrk_version() -> str:
    try:
        out = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True).stdout
    except OSError:
        return "wrk"
    return out.split(" [", 1)[0].strip() or "wrk"


@dataclass(frozen=True)
class Request:
    """One POST to replay. Nothing in it may hold a tab or a newline (form and compact JSON
    bodies never do)."""

    id: str
    path: str
    content_type: str
    body: str
    #: one extra header, typically the provider's signature
    header: str = ""
    value: str = ""

    def line(self) -> str:
        fields = (self.id, self.path, self.content_type, self.header, self.value, self.body)
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"request {self.id}: tabs and newlines cannot be replayed")
        return "\t".join(fields) + "\n"


class RequestFile:
    """A file of requests for `replay.lua`, in a temporary folder of its own."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"{name}.requests"
        self.count = 0
        self.path.write_text("")

    def add(self, requests: Iterable[Request]) -> None:
        with self.path.open("a") as out:
            for request in requests:
                out.write(request.line())
                self.count += 1


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run saw."""

    answered: int
    #: answered 200
    ok: int
    #: answered with any other status
    other: int
    sent: int
    #: a thread ran out of requests and sent some a second time
    wrapped: bool
    socket_errors: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    #: the X-Request-Id of every 200, in the order the answers came (servers that echo it)
    acked: list[str]
    #: wrk's share of one core during the run
    cpu_share: float

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def replay(
    base_url: str,
    requests: RequestFile,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    timeout: float = 10.0,
) -> WrkResult:
    """Replay `requests` against `base_url` for `seconds` with `connections` open."""
    wrk = ensure_wrk()
    with tempfile.NamedTemporaryFile(prefix="acked-", suffix=".txt", delete=False) as acked_file:
        acked_path = Path(acked_file.name)
    try:
        process = await asyncio.create_subprocess_exec(
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout:g}s",
            "-s",
            str(LUA),
            base_url,
            "--",
            str(requests.path),
            str(threads),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "WRK_ACKED": str(acked_path)},
        )
        # wrk is this process's only child to end meanwhile: the children's CPU time is its
        before, started = _children_cpu(), time.monotonic()
        out, err = await process.communicate()
        cpu, wall = _children_cpu() - before, time.monotonic() - started
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()[-2000:]}")
        summary = [line for line in out.decode().splitlines() if line.startswith("{")]
        if not summary:
            raise RuntimeError(f"wrk printed no summary: {out.decode()[-2000:]}")
        data = json.loads(summary[-1])
        acked = acked_path.read_text().split()
    finally:
        acked_path.unlink(missing_ok=True)
    # wrk reports a latency of 0 when nothing was answered: that is no latency at all
    latency = {k: float(data[k]) if data["answered"] else float("nan") for k in LATENCIES}
    return WrkResult(
        answered=int(data["answered"]),
        ok=int(data["ok"]),
        other=int(data["other"]),
        sent=int(data["sent"]),
        wrapped=bool(data["wrapped"]),
        socket_errors=int(data["socket_errors"]),
        seconds=float(data["seconds"]),
        p50_ms=latency["p50_ms"],
        p90_ms=latency["p90_ms"],
        p99_ms=latency["p99_ms"],
        max_ms=latency["max_ms"],
        acked=acked,
        cpu_share=cpu / wall if wall else 0.0,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
