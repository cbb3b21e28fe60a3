"""Scale: inbound SMS a second on PostgreSQL with `[gateway] processes` = 1, 2 and 4, at 64
connections, and where the machine's cores went (the gateway's processes, wrk, PostgreSQL).

    python -m bench.scale [--quick]

Needs INBOX_TEST_POSTGRES_URL (`make bench` starts the test server): several processes need
PostgreSQL. Each round is a fresh database and a fresh `inbox-gateway run`, the customers have
written once before the load, and the same kind of pre-signed requests are replayed by wrk
(bench/inbound_sms.py's machinery); a message counts once it is acknowledged and listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp

from bench import harness
from bench.cli import options
from bench.inbound_sms import answers, warm_up
from bench.load import count, last_acknowledged, listed_references, wait_listed
from bench.report import AtLeast, Check, Figure, Report
from bench.signing import twilio_inbound_load
from bench.stage import DEFAULT, QUICK, Sizes, Stage
from bench.stats import cpu_seconds, raise_open_files_limit
from bench.wrk import ensure_wrk, replay, wrk_version
from tests.support import Daemon
from tests.support.databases import POSTGRES_ENV
from tests.support.polling import eventually

PROCESSES = (1, 2, 4)
INBOUND = "PARTICIPANT_TO_BUSINESS"


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _postmaster(port: int) -> int | None:
    """The PostgreSQL server listening on `port` (its command line names the port)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"postgres") and f"{port}".encode() in argv:
                return int(entry.name)
    return None


class TreeCpu:
    """The CPU seconds a process and its children used, read again at each call."""

    def __init__(self, root: int | None) -> None:
        self.root = root
        self.seen: dict[int, float] = {}

    def sample(self) -> dict[int, float]:
        if self.root is None:
            return {}
        now: dict[int, float] = {}
        for pid in {self.root, *_children(self.root)}:
            with contextlib.suppress(OSError):
                now[pid] = cpu_seconds(pid)
        return now

    def start(self) -> None:
        self.seen = self.sample()

    def used(self) -> float:
        """CPU seconds since `start` (processes started meanwhile count whole)."""
        now = self.sample()
        return sum(value - self.seen.get(pid, 0.0) for pid, value in now.items())


async def one_round(
    processes: int, folder: Path, sizes: Sizes, fakes: harness.Fakes, report: Report
) -> tuple[float, str]:
    """One daemon with `processes` workers under load; answers (messages a second, CPU note)."""
    here = folder / f"processes-{processes}"
    with harness.database("postgres", here) as url:
        made = harness.daemon(here, url, fakes, sms_rate_per_second=0)
        daemon = Daemon(here, made.config.with_(processes=processes if processes > 1 else None))
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        stage = Stage(
            backend="postgres",
            database=harness.backend_name("postgres"),
            folder=here,
            sizes=sizes,
            http=http,
            daemon=daemon,
            bare=harness.bare(here),
            fakes=fakes,
        )
        async with http, harness.running(daemon):
            if processes > 1:
                await eventually(lambda: len(daemon.worker_pids()) == processes, 60)
            conversation_of_phone = await warm_up(stage)
            senders: dict[str, str] = {}
            requests = stage.request_file("scale")
            requests.add(
                twilio_inbound_load(
                    daemon.url,
                    stage.run,
                    0,
                    stage.planned_requests() * 2,
                    sizes.customers,
                    senders,
                )
            )
            port = int(os.environ[POSTGRES_ENV].rsplit(":", 1)[1].split("/")[0])
            gateway_cpu, database_cpu = TreeCpu(stage.daemon_pid), TreeCpu(_postmaster(port))
            gateway_cpu.start()
            database_cpu.start()
            run = await replay(
                daemon.url, requests, seconds=sizes.seconds, connections=sizes.connections
            )
            gateway_used, database_used = gateway_cpu.used(), database_cpu.used()
            lag = await wait_listed(
                stage.api,
                last_acknowledged(
                    run.acked, lambda r: conversation_of_phone[senders[r]], sizes.connections
                ),
            )
            rate = len(set(run.acked)) / (run.seconds + lag)
            listed = await listed_references(
                stage.api, conversation_of_phone.values(), "m", INBOUND
            )
            counted = count(run.acked, listed, sent=(f"m{n}" for n in range(run.sent)))
            errors = harness.error_lines(daemon.log)
        name = f"inbound SMS, processes = {processes}"
        report.add(
            answers(f"{name}, answers", stage.database, run),
            counted.check(f"{name}, stored exactly once", stage.database),
            Check(
                f"{name}, daemon log ERROR lines",
                stage.database,
                harness.errors_detail(errors),
                not errors,
            ),
        )
        cores = os.cpu_count() or 1
        gateway_share = gateway_used / run.seconds
        database_share = database_used / run.seconds
        idle = cores - gateway_share - database_share - run.cpu_share
        note = (
            f"processes = {processes}: cores used of {cores}: gateway {gateway_share:.2f} "
            f"(every process), PostgreSQL {database_share:.2f}, wrk {run.cpu_share:.2f}, "
            f"the rest (other work on the machine, idle) {idle:.2f}; p99 {run.p99_ms:.0f} ms"
        )
        return rate, note


async def main() -> int:
    args = options(__doc__ or "")
    if not os.environ.get(POSTGRES_ENV):
        print(f"bench.scale needs PostgreSQL: set {POSTGRES_ENV}", file=sys.stderr)
        return 1
    sizes = QUICK if args.quick else DEFAULT
    raise_open_files_limit()
    ensure_wrk()
    report = Report("Scale: several processes on one host", quick=args.quick)
    report.note(
        f"load: {wrk_version()}, 1 thread, {sizes.connections} connections, "
        f"{sizes.seconds:g} s per run; {sizes.customers:,} distinct customers; "
        f"{os.cpu_count()} cores"
    )
    rates: dict[int, float] = {}
    async with harness.fakes_in_workspace(customers=sizes.customers) as (folder, fakes):
        for processes in PROCESSES:
            rates[processes], note = await one_round(processes, folder, sizes, fakes, report)
            report.note(note)
    database = harness.backend_name("postgres")
    for processes, rate in rates.items():
        # on a 2-core machine 2 processes must beat 1; 4 share the same 2 cores
        target = AtLeast(1.0) if processes == 2 else None
        report.add(
            Figure(
                f"inbound SMS, processes = {processes}, messages/s",
                database,
                rate,
                rates[1],
                "processes = 1",
                target,
            )
        )
    print(report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
