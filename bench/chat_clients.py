"""Web chat visitors in processes of their own, so that the client is not the bottleneck.

A client process connects its visitors as the widget does (`POST sessions` from the site's
origin, then the WebSocket, offering permessage-deflate like a browser), and talks to the
bench over JSON lines: it prints `{"ready": …}` once every visitor is connected, and waits for
commands on stdin.

    python -m bench.chat_clients talk --url URL --first 0 --visitors 32 [--sessions]

    python -m bench.chat_clients hold --url URL --first 0 --visitors 2500 --concurrency 16

`talk`: on `go SECONDS`, each visitor sends `message` frames one at a time, each waiting for
its ack, until the time is up; then the process prints `{"result": …}` (acknowledged
references, errors, latencies, its own CPU seconds) and exits.

`hold`: on `connect`, connects its visitors (`concurrency` at a time) and prints
`{"connected": […]}` with each one's conversation and when its connection started and ended;
then holds the sockets open and prints `{"arrived": REF, "visitor": N, "t": MONOTONIC}` for
each business message a socket receives (the bench sent it with `[REF]` at the end of its
text) until stdin closes. Times are `time.monotonic()`, which every process of the machine
shares, so the bench can subtract its own send times from them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import ORIGIN
from bench.signing import reference_of
from bench.stats import raise_open_files_limit

#: the zlib window a browser offers with permessage-deflate
DEFLATE = 15
BUSINESS = "BUSINESS_TO_PARTICIPANT"


@dataclass
class Visitor:
    index: int
    ws: aiohttp.ClientWebSocketResponse
    conversation_id: str
    deflate: bool
    acked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


async def connect(http: aiohttp.ClientSession, url: str, index: int, sessions: bool) -> Visitor:
    """A visitor as the widget opens one: a session (when the server has them), a socket."""
    headers = {"Origin": ORIGIN}
    token, conversation_id = f"visitor{index}", ""
    if sessions:
        async with http.post(f"{url}/channels/chat/sessions", json={}, headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"POST sessions answered {r.status}: {await r.text()}")
            session = await r.json()
        token, conversation_id = session["token"], session["conversationId"]
    ws = await http.ws_connect(
        f"{url}/channels/chat/ws", params={"token": token}, headers=headers, compress=DEFLATE
    )
    return Visitor(index, ws, conversation_id, deflate=bool(ws.compress))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def say(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def command() -> str:
    line: str = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()


async def talk(visitor: Visitor, deadline: float) -> None:
    """Send messages one at a time, each awaiting its ack, until `deadline`."""
    n = 0
    while time.monotonic() < deadline:
        reference = f"k{visitor.index}-{n}"
        frame = {
            "type": "message",
            "clientMessageId": reference,
            "content": {"basic": {"items": [{"text": f"Hello, any news? [{reference}]"}]}},
        }
        started = time.perf_counter()
        await visitor.ws.send_str(json.dumps(frame))
        while True:
            message = await visitor.ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                visitor.errors.append(f"{reference}: socket {message.type.name}")
                return
            data = json.loads(message.data)
            if data.get("clientMessageId") != reference:
                continue  # the conversation's other traffic
            if data.get("type") == "ack":
                visitor.latencies.append(time.perf_counter() - started)
                visitor.acked.append(reference)
            else:
                visitor.errors.append(f"{reference}: {data.get('code')}")
            break
        n += 1


async def run_talk(args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        indexes = range(args.first, args.first + args.visitors)
        visitors = await asyncio.gather(
            *(connect(http, args.url, i, args.sessions) for i in indexes)
        )
        say(
            {
                "ready": True,
                "visitors": [
                    {"index": v.index, "conversationId": v.conversation_id, "deflate": v.deflate}
                    for v in visitors
                ],
            }
        )
        word, _, seconds = (await command()).partition(" ")
        if word != "go":
            return
        cpu, started = cpu_seconds(), time.monotonic()
        await asyncio.gather(*(talk(v, started + float(seconds)) for v in visitors))
        elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu
        say(
            {
                "result": {
                    "acked": {str(v.index): v.acked for v in visitors},
                    "errors": [e for v in visitors for e in v.errors],
                    "latencies": [s for v in visitors for s in v.latencies],
                    "seconds": elapsed,
                    "cpu_seconds": cpu,
                }
            }
        )
        await asyncio.gather(*(v.ws.close() for v in visitors))


async def held(visitor: Visitor) -> None:
    """Report every business message that reaches the visitor's socket, as it arrives."""
    async for message in visitor.ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        data = json.loads(message.data)
        stored = data.get("message") if data.get("type") == "message" else None
        if not isinstance(stored, dict) or stored.get("direction") != BUSINESS:
            continue
        items = stored.get("content", {}).get("basic", {}).get("items", [{}])
        reference = reference_of(str(items[0].get("text", "")))
        say({"arrived": reference, "visitor": visitor.index, "t": time.monotonic()})


async def run_hold(args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        say({"ready": True})
        if await command() != "connect":
            return
        gate = asyncio.Semaphore(args.concurrency)
        times: dict[int, tuple[float, float]] = {}
        readers: list[asyncio.Task[None]] = []

        async def one(index: int) -> Visitor:
            async with gate:
                started = time.monotonic()
                visitor = await connect(http, args.url, index, sessions=True)
                times[index] = (started, time.monotonic())
            # read at once, as the widget does: a socket that leaves the server's pings
            # unanswered while the others connect is closed by the server after 45 s
            readers.append(asyncio.create_task(held(visitor)))
            return visitor

        indexes = range(args.first, args.first + args.visitors)
        visitors = await asyncio.gather(*(one(i) for i in indexes))
        say(
            {
                "connected": [
                    {
                        "index": v.index,
                        "conversationId": v.conversation_id,
                        "deflate": v.deflate,
                        "started": times[v.index][0],
                        "done": times[v.index][1],
                    }
                    for v in visitors
                ]
            }
        )
        await command()  # anything, or stdin closing, ends the hold
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)


# -- the bench's side ------------------------------------------------------------------------


class ClientProcess:
    """One client process, as the bench drives it."""

    def __init__(self, log: Path, mode: str, args: Sequence[str]) -> None:
        self.log = log
        self.argv = [sys.executable, "-m", "bench.chat_clients", mode, *args]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=2**28,  # a result is one long line
            )

    async def read(self) -> dict[str, Any]:
        """The next JSON line the client prints; fails if it exits first."""
        assert self.process is not None and self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            await self.process.wait()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"a chat client exited ({self.process.returncode}): {tail}")
        data: dict[str, Any] = json.loads(line)
        return data

    async def send(self, command: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="web chat visitors for the benches")
    parser.add_argument("mode", choices=["talk", "hold"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--visitors", type=int, required=True)
    parser.add_argument("--sessions", action="store_true", help="talk: open sessions first")
    parser.add_argument("--concurrency", type=int, default=16, help="hold: connects at a time")
    args = parser.parse_args()
    raise_open_files_limit()
    asyncio.run(run_talk(args) if args.mode == "talk" else run_hold(args))


if __name__ == "__main__":
    main()
