"""The providers' loopback fakes in a process of their own, so they never share the bench's core.

    python -m bench.fakes --twilio-port 18091 --graph-port 18092 --control-port 18093 --psids 1000

Serves the Twilio fake and the Graph API fake (`adapters.*.fake`), with a profile for each of
the first `--psids` bench customers, and a control API for the bench:

- `GET /healthz`: up.
- `GET /twilio/sent?after=N`: `{"count": total, "messages": [{"sid", "to", "body"}, …]}`, the
  messages Twilio accepted from the N-th on (posts no status callbacks).
- `GET /twilio/count`: `{"count": total}`.
- `GET /graph/sent?after=N`: `{"count": total, "messages": [{"recipient", "text",
  "timestamp"}, …]}`, the messages the Graph API accepted from the N-th on, each with the
  time it accepted it (milliseconds since the epoch).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from adapters.messenger.fake import FakeGraph
from adapters.twilio.fake import FakeTwilio

TWILIO_KEY = web.AppKey("twilio", FakeTwilio)
GRAPH_KEY = web.AppKey("graph", FakeGraph)


def psid(n: int) -> str:
    """The page-scoped id of bench customer `n` on Messenger."""
    return f"{7_000_000_000_000_000 + n}"


async def sent(request: web.Request) -> web.Response:
    fake = request.app[TWILIO_KEY]
    after = int(request.query.get("after", "0"))
    messages = [
        {"sid": m["sid"], "to": m.get("To", ""), "body": m.get("Body", "")}
        for m in fake.sent[after:]
    ]
    return web.json_response({"count": len(fake.sent), "messages": messages})


async def graph_sent(request: web.Request) -> web.Response:
    fake = request.app[GRAPH_KEY]
    after = int(request.query.get("after", "0"))
    messages = [
        {
            "recipient": m["recipient"]["id"],
            "text": (m.get("message") or {}).get("text", ""),
            "timestamp": m["timestamp"],
        }
        for m in fake.sent[after:]
    ]
    return web.json_response({"count": len(fake.sent), "messages": messages})


async def count(request: web.Request) -> web.Response:
    return web.json_response({"count": len(request.app[TWILIO_KEY].sent)})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(args: argparse.Namespace) -> None:
    twilio = FakeTwilio(account_sid=args.account_sid, auth_token=args.auth_token)
    profiles = {psid(n): {"first_name": "Customer", "last_name": str(n)} for n in range(args.psids)}
    graph = FakeGraph(access_token=args.page_token, app_secret=args.app_secret, profiles=profiles)
    await twilio.start(port=args.twilio_port)
    await graph.start(port=args.graph_port)
    control = web.Application()
    control[TWILIO_KEY] = twilio
    control[GRAPH_KEY] = graph
    control.router.add_get("/healthz", healthz)
    control.router.add_get("/twilio/sent", sent)
    control.router.add_get("/twilio/count", count)
    control.router.add_get("/graph/sent", graph_sent)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.control_port).start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await runner.cleanup()
    await graph.stop()
    await twilio.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="the providers' fakes for the benches")
    parser.add_argument("--twilio-port", type=int, required=True)
    parser.add_argument("--graph-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--psids", type=int, default=0)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--page-token", required=True)
    parser.add_argument("--app-secret", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
