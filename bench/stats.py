"""Latency percentiles and the CPU and memory a process used, read from /proc."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

NAN = float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks."""
    if not values:
        return NAN
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    """Milliseconds: median, 99th percentile and worst of a set of requests."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        if not ms:
            return cls(0, NAN, NAN, NAN)
        return cls(len(ms), statistics.median(ms), percentile(ms, 99), max(ms))


# -- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process (all its threads) has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_named(name: str) -> float:
    """User plus system CPU seconds used so far by the running processes called `name`
    (a PostgreSQL server's: its backends, writers and autovacuum)."""
    total = 0.0
    for command in Path("/proc").glob("[0-9]*/comm"):
        try:
            if command.read_text().strip() == name:
                total += cpu_seconds(int(command.parent.name))
        except OSError:  # gone since the listing
            continue
    return total


def rss_bytes(pid: int) -> int:
    """A process's resident memory right now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes(pid: int) -> int:
    """The most resident memory a process has held (its high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class CpuMeter:
    """The share of one core a process used between `start()` and `stop()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = 0.0
        self._wall = 0.0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0

    def start(self) -> None:
        self._cpu, self._wall = cpu_seconds(self.pid), time.monotonic()

    def stop(self) -> float:
        """The share of one core used since `start()` (1.0: one core busy all the time)."""
        with contextlib.suppress(OSError):  # the process has exited: nothing more to add
            self.cpu_seconds = cpu_seconds(self.pid) - self._cpu
        self.wall_seconds = time.monotonic() - self._wall
        return self.share

    @property
    def share(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else NAN


def raise_open_files_limit() -> int:
    """Raise this process's limit on open files to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
