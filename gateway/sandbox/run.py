"""Start the fakes, write a sandbox configuration for them, and run the gateway beside them."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher

from gateway.app import build_app, daemon_runner
from gateway.config import parse_config
from gateway.logs import setup_logging
from gateway.sandbox.fakes import PAGE_ID, load_fake
from gateway.sandbox.phone import setup_phone

AGENT = ("agent", "agent")
VERIFY_TOKEN = "sandbox-verify"


def sandbox_config(
    port: int, database: Path, twilio: Any, graph: Any, host: str = "127.0.0.1"
) -> str:
    """The TOML of a gateway wired to the fakes, with one agent `agent`/`agent`."""
    public = f"http://{host}:{port}"
    origins = sorted({public, f"http://127.0.0.1:{port}", f"http://localhost:{port}"})
    password_hash = PasswordHasher().hash(AGENT[1])
    token = "sandbox-" + secrets.token_hex(12)
    return f"""
[gateway]
listen = "{host}:{port}"
public_url = "{public}"
business_name = "Sandbox Shop"

[database]
url = "sqlite:///{database}"

[api]
tokens = [{{ name = "sandbox", token = "{token}" }}]

[[agents]]
username = "{AGENT[0]}"
password_hash = "{password_hash}"
display_name = "Sandbox Agent"

[delivery]
retry_delays = [1, 5, 30]

[channels.chat]
type = "webchat"
allowed_origins = {origins!r}
title = "Chat with Sandbox Shop"

[channels.sms]
type = "twilio"
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "{twilio.phone_number}"
api_base_url = "{twilio.base_url}"

[channels.messenger]
type = "messenger"
page_id = "{PAGE_ID}"
page_access_token = "{graph.access_token}"
app_secret = "{graph.app_secret}"
verify_token = "{VERIFY_TOKEN}"
graph_base_url = "{graph.base_url}"
graph_version = "{graph.version}"
human_agent_tag = true
""".replace("'", '"')


@dataclass
class Sandbox:
    """A running sandbox: the gateway, the fakes, and where to find them."""

    url: str
    runner: web.AppRunner
    app: web.Application
    twilio: Any
    graph: Any
    token: str
    workdir: tempfile.TemporaryDirectory[str] | None

    def urls(self) -> dict[str, str]:
        return {
            "inbox": f"{self.url}/inbox/",
            "phone": f"{self.url}/sandbox/phone",
            "web chat demo": f"{self.url}/sandbox/",
            "REST API": f"{self.url}/inbox/v2/conversations",
        }

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.twilio.stop()
        await self.graph.stop()
        if self.workdir is not None:
            self.workdir.cleanup()


async def start_sandbox(
    host: str = "127.0.0.1", port: int = 8080, database: str | None = None
) -> Sandbox:
    """Start the fakes and the gateway; answers once everything listens."""
    twilio = load_fake("twilio")()
    twilio.auto_status = ("sent", "delivered")
    graph = load_fake("messenger")()
    await twilio.start()
    await graph.start()
    workdir = None
    if database is None:
        workdir = tempfile.TemporaryDirectory(prefix="inbox-sandbox-")
        path = Path(workdir.name) / "sandbox.db"
    else:
        path = Path(database).resolve()
    try:
        config = parse_config(sandbox_config(port, path, twilio, graph, host))
        app = build_app(config)
        setup_phone(app, twilio, graph)
        runner = daemon_runner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await twilio.stop()
        await graph.stop()
        if workdir is not None:
            workdir.cleanup()
        raise
    token = config.api.tokens[0].token
    return Sandbox(config.gateway.public_url, runner, app, twilio, graph, token, workdir)


async def run_sandbox(
    host: str = "127.0.0.1", port: int = 8080, database: str | None = None
) -> None:
    """Run until Ctrl-C, printing where everything is."""
    setup_logging("WARNING")
    sandbox = await start_sandbox(host, port, database)
    print("inbox-gateway sandbox is running (Ctrl-C stops it)\n")
    for name, url in sandbox.urls().items():
        print(f"  {name:14} {url}")
    print(f"\n  agent login    {AGENT[0]} / {AGENT[1]}")
    print(f"  API token      {sandbox.token}")
    print(f"  fake Twilio    {sandbox.twilio.base_url}   fake Graph API  {sandbox.graph.base_url}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("\nstopping the sandbox")
        await sandbox.stop()
