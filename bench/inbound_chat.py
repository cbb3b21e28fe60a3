"""Web chat messages: visitors on WebSockets sending `message` frames, each waiting for its ack,
against a bare aiohttp WebSocket handler that parses the frame and acks it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bench.chat_clients import ClientProcess
from bench.inbound_sms import BARE, INBOUND
from bench.load import count, listed_references, wait_listed
from bench.report import Check, Figure, Row
from bench.stage import Stage
from bench.stats import CpuMeter, Latency


@dataclass
class ChatRun:
    """What the client processes saw of one load."""

    #: visitor index -> acknowledged references, in order
    acked: dict[int, list[str]]
    errors: list[str]
    latency: Latency
    seconds: float
    conversations: dict[int, str]
    deflate: int
    #: each client process's share of a core
    client_cpu: list[float]
    server_cpu: float

    @property
    def count(self) -> int:
        return sum(len(refs) for refs in self.acked.values())


async def chat_load(stage: Stage, url: str, pid: int, sessions: bool, name: str) -> ChatRun:
    """The visitors of `stage.sizes`, spread over client processes, talking to `url`."""
    sizes = stage.sizes
    per = sizes.visitors // sizes.client_processes
    clients = [
        ClientProcess(
            stage.folder / f"chat-{name}-{k}.log",
            "talk",
            ["--url", url, "--first", str(k * per), "--visitors", str(per)]
            + (["--sessions"] if sessions else []),
        )
        for k in range(sizes.client_processes)
    ]
    try:
        for client in clients:
            await client.start()
        ready = [await client.read() for client in clients]
        meter = CpuMeter(pid)
        meter.start()
        for client in clients:
            await client.send(f"go {sizes.seconds:g}")
        results: list[dict[str, Any]] = [(await c.read())["result"] for c in clients]
        meter.stop()
    finally:
        await asyncio.gather(*(c.stop() for c in clients))
    visitors = [v for r in ready for v in r["visitors"]]
    return ChatRun(
        acked={int(i): refs for r in results for i, refs in r["acked"].items()},
        errors=[e for r in results for e in r["errors"]],
        latency=Latency.of_seconds([s for r in results for s in r["latencies"]]),
        seconds=max(r["seconds"] for r in results),
        conversations={int(v["index"]): v["conversationId"] for v in visitors},
        deflate=sum(1 for v in visitors if v["deflate"]),
        client_cpu=[r["cpu_seconds"] / r["seconds"] for r in results],
        server_cpu=meter.share,
    )


async def chat_messages(stage: Stage) -> tuple[list[Row], list[str]]:
    """The web chat figures: acknowledged messages a second against bare aiohttp."""
    sizes, db = stage.sizes, stage.database
    bare = await chat_load(stage, stage.bare.url, stage.bare.pid, False, "bare")
    gateway = await chat_load(stage, stage.daemon.url, stage.daemon_pid, True, "gateway")
    # each visitor's last acknowledged message, on its conversation
    wanted = {gateway.conversations[i]: refs[-1:] for i, refs in gateway.acked.items() if refs}
    lag = await wait_listed(stage.api, wanted)
    rate = gateway.count / (gateway.seconds + lag)
    acked = [r for refs in gateway.acked.values() for r in refs]
    listed = await listed_references(stage.api, gateway.conversations.values(), "k", INBOUND)
    counted = count(acked, listed, sent=acked + [e.split(":")[0] for e in gateway.errors])

    name = "web chat messages"
    bare_rate = bare.count / bare.seconds
    errors = f"{len(gateway.errors)} error frames or closed sockets" + (
        f" (e.g. {gateway.errors[0]})" if gateway.errors else ""
    )
    rows: list[Row] = [
        Figure(f"{name}, messages/s", db, rate, bare_rate, BARE),
        Figure(
            f"{name}, ack p99 ms", db, gateway.latency.p99_ms, bare.latency.p99_ms, BARE, None, 1
        ),
        Check(f"{name}, answers", db, errors, not gateway.errors),
        counted.check(f"{name}, stored exactly once", db),
    ]
    clients = " + ".join(f"{share:.2f}" for share in gateway.client_cpu)
    bare_clients = " + ".join(f"{share:.2f}" for share in bare.client_cpu)
    notes = [
        f"web chat on {db}: {sizes.visitors} visitors over {sizes.client_processes} client "
        f"processes, one message in flight each, {gateway.deflate} sockets with "
        f"permessage-deflate; share of a core used by the server (and by the clients): "
        f"gateway {gateway.server_cpu:.2f} ({clients}), bare {bare.server_cpu:.2f} "
        f"({bare_clients}); listed {lag * 1000:.0f} ms after the load"
    ]
    return rows, notes
