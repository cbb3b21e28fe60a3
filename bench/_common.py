"""What every bench script shares: options, databases, a live gateway, statistics, tables.

The gateway, its configuration and the databases come from tests.support, as in the tests.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.config import Channel, GatewayConfig
from tests.support.databases import POSTGRES_ENV, fresh_postgres, sqlite_url
from tests.support.live import LiveGateway, start_gateway

TOKEN = "bench-token-0123456789abcdef"
#: seconds after which a stuck run is stopped (several times what a run should take)
WATCHDOG, WATCHDOG_QUICK = 240.0, 60.0


def options(description: str) -> argparse.Namespace:
    """The command line every bench script accepts: `--quick` for a run of a few seconds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer rounds (< 10 s)"
    )
    args = parser.parse_args()
    # The numbers are the point; the daemon's own logging would only slow it down.
    logging.basicConfig(level=logging.WARNING)
    # A run that hangs stops by itself, showing where every thread was.
    faulthandler.dump_traceback_later(WATCHDOG_QUICK if args.quick else WATCHDOG, exit=True)
    return args


# -- databases ------------------------------------------------------------------------------


class Databases:
    """Fresh empty databases: SQLite files in a temp folder, and on PostgreSQL when configured.

    PostgreSQL is used only when INBOX_TEST_POSTGRES_URL is set; every database made on it
    is dropped by `close()`.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="inbox-bench-")
        self._postgres = os.environ.get(POSTGRES_ENV, "")
        self._dropped = ExitStack()

    @property
    def backends(self) -> list[str]:
        return ["sqlite", "postgresql"] if self._postgres else ["sqlite"]

    def new(self, backend: str) -> str:
        """The URL of a new empty database on `backend`."""
        if backend == "sqlite":
            return sqlite_url(Path(self._folder.name), f"b_{uuid.uuid4().hex[:12]}.db")
        return self._dropped.enter_context(fresh_postgres(self._postgres, prefix="b_"))

    def close(self) -> None:
        self._dropped.close()
        self._folder.cleanup()


@contextmanager
def databases() -> Iterator[Databases]:
    made = Databases()
    try:
        yield made
    finally:
        made.close()


# -- a live gateway -------------------------------------------------------------------------


def bench_config(database_url: str, *channels: Channel) -> GatewayConfig:
    """A gateway as the benchmarks run it: the bench API token and these channels."""
    return GatewayConfig(
        database_url=database_url,
        business_name="Bench Shop",
        tokens={"bench": TOKEN},
        channels=channels,
    )


async def start_bench_gateway(database_url: str, *channels: Channel) -> LiveGateway:
    """The real daemon on a free port (schema migrated), without the access log, which
    would be a good part of what is measured."""
    return await start_gateway(bench_config(database_url, *channels), access_log=False)


# -- numbers and tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Latencies of one kind of request, in milliseconds."""

    count: int
    median_ms: float
    p95_ms: float


def timing(seconds: Sequence[float]) -> Timing:
    if not seconds:
        return Timing(0, float("nan"), float("nan"))
    ms = sorted(s * 1000 for s in seconds)
    return Timing(len(ms), statistics.median(ms), percentile(ms, 95))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation between the closest ranks."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] * (1 - fraction) + sorted_values[high] * fraction


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; columns whose cells all look like numbers are right-aligned."""
    widths = [
        max(len(headers[i]), *(len(row[i]) for row in rows)) if rows else len(headers[i])
        for i in range(len(headers))
    ]
    numeric = [all(_numeric(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (w - 1) + ":" if right else "-" * w for w, right in zip(widths, numeric, strict=True)
    ]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").lstrip("-").isdigit()


class Stopwatch:
    """Seconds since it was made, for the elapsed-time line every script ends with."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
