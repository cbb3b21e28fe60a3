"""`inbox-gateway sandbox`: the whole gateway against loopback fakes of every provider.

SMS (Twilio), Messenger (Graph API) and web chat meet in one inbox with no accounts: a
"phone" page plays the SMS and Messenger customer, a demo page embeds the web chat widget.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.sandbox.run import run_sandbox


def add_sandbox_command(sub: Any) -> None:
    """Register `inbox-gateway sandbox` on the CLI's sub-command parser."""
    sandbox = sub.add_parser(
        "sandbox", help="run the gateway against loopback fakes of Twilio and Messenger"
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sandbox.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sandbox.add_argument(
        "--database", default=None, help="SQLite file to keep (default: a fresh temp file)"
    )
    sandbox.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run the sandbox until interrupted."""
    import asyncio

    from gateway.config import is_loopback

    if not is_loopback(args.host):
        # its inbox logs in as agent/agent, which the gateway refuses beyond loopback too
        print(
            f"sandbox: --host {args.host} is not a loopback address; the sandbox's inbox logs "
            "in as agent/agent, so it listens on this machine only (run the daemon with your "
            "own config to serve others)"
        )
        return 1
    try:
        asyncio.run(run_sandbox(args.host, args.port, args.database))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m gateway.sandbox`: the same as `inbox-gateway sandbox`."""
    parser = argparse.ArgumentParser(prog="inbox-gateway sandbox")
    add_sandbox_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", *(argv or [])])
    result: int = args.func(args)
    return result
