"""Inbound: how fast the daemon takes in what customers send, against baselines measured in
the same run, on SQLite and (with INBOX_TEST_POSTGRES_URL) on PostgreSQL.

    python -m bench.inbound [--quick] [--only sms,status,messenger,mixed,chat]

Every server is a real process on 127.0.0.1: the daemon (`python -m gateway run`), the bare
and naive aiohttp baselines (`bench.baselines`) and the providers' fakes (`bench.fakes`).
HTTP loads are pre-signed requests replayed by wrk; web chat loads come from client processes
(`bench.chat_clients`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from bench import harness
from bench.cli import options
from bench.inbound_chat import chat_messages
from bench.inbound_messenger import MIXED, messenger
from bench.inbound_sms import inbound_sms, warm_up
from bench.inbound_status import status_callbacks
from bench.report import Check, Report
from bench.stage import DEFAULT, QUICK, Sizes, Stage
from bench.stats import raise_open_files_limit
from bench.wrk import ensure_wrk, wrk_version

PARTS = ("sms", "status", "messenger", "mixed", "chat")
#: inbound SMS a second, to size the status storm when the SMS part did not run to tell:
#: about what one daemon takes on 2 cores (a storm sized for fewer ran out of requests, and
#: replayed statuses already applied, which cost less than new ones)
FALLBACK_RATE = 3000.0


async def one_round(
    backend: str, folder: Path, sizes: Sizes, parts: list[str], fakes: harness.Fakes, report: Report
) -> None:
    here = folder / backend
    with (
        harness.database(backend, here) as gateway_url,
        harness.database(backend, here, "naive.db") as naive_url,
    ):
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        stage = Stage(
            backend=backend,
            database=harness.backend_name(backend),
            folder=here,
            sizes=sizes,
            http=http,
            # pacing off: the status storm first sends thousands of messages to the fake
            daemon=harness.daemon(here, gateway_url, fakes, sms_rate_per_second=0),
            bare=harness.bare(here),
            fakes=fakes,
        )
        async with http, harness.running(stage.bare), harness.running(stage.daemon):
            conversations = await warm_up(stage) if {"sms", "status"} & set(parts) else {}
            rate = FALLBACK_RATE
            if "sms" in parts:
                rows, notes, rate = await inbound_sms(stage, naive_url, conversations)
                report.add(*rows)
                report.notes += notes
            if "status" in parts:
                rows, notes = await status_callbacks(stage, conversations, rate)
                report.add(*rows)
                report.notes += notes
            if "messenger" in parts:
                rows, notes = await messenger(stage)
                report.add(*rows)
                report.notes += notes
            if "mixed" in parts:
                rows, notes = await messenger(stage, MIXED)
                report.add(*rows)
                report.notes += notes
            if "chat" in parts:
                rows, notes = await chat_messages(stage)
                report.add(*rows)
                report.notes += notes
            errors = harness.error_lines(stage.daemon.log)
        report.add(
            Check(
                "daemon log, ERROR lines", stage.database, harness.errors_detail(errors), not errors
            )
        )


async def main() -> int:
    args = options(__doc__ or "", PARTS)
    sizes = QUICK if args.quick else DEFAULT
    raise_open_files_limit()
    ensure_wrk()
    report = Report("Inbound", quick=args.quick)
    report.note(
        f"load: {wrk_version()}, 1 thread, {sizes.connections} connections, "
        f"{sizes.seconds:g} s per run; {sizes.customers:,} distinct customers per channel"
    )
    async with harness.fakes_in_workspace(customers=sizes.customers) as (folder, fakes):
        for backend in harness.backends():
            await one_round(backend, folder, sizes, args.only, fakes, report)
    print(report.text())
    # A missed target is a figure, not a broken bench: only a crash exits non-zero.
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
