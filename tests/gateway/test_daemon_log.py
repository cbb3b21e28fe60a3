"""The daemon's log holds the gateway's own lines: the libraries it uses log warnings only."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from adapters.twilio.fake import FakeTwilio
from tests.support import GatewayConfig, eventually, sqlite_url, twilio_channel
from tests.support.config import TOKEN
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow

CUSTOMERS = [f"+1555000{n:04d}" for n in range(3)]


async def test_sending_sms_logs_no_library_lines(tmp_path: Path, twilio: FakeTwilio) -> None:
    config = GatewayConfig(
        database_url=sqlite_url(tmp_path),
        tokens={"crm": TOKEN},
        channels=[twilio_channel(fake=twilio, rate_per_second=0)],
    )
    daemon = Daemon(tmp_path, config)
    async with aiohttp.ClientSession(daemon.url) as http:
        await daemon.start()
        try:
            for number in CUSTOMERS:
                await _send(http, daemon.auth, number)
            await eventually(lambda: len(twilio.sent) == len(CUSTOMERS))
        finally:
            assert await daemon.stop() == 0
    loggers = [json.loads(line)["logger"] for line in daemon.log.read_text().splitlines()]
    assert any(name.split(".")[0] == "gateway" for name in loggers)  # the daemon's own lines
    library = [name for name in loggers if name.split(".")[0] not in ("gateway", "adapters")]
    assert library == []


async def _send(http: aiohttp.ClientSession, auth: dict[str, str], number: str) -> None:
    identity = {"channelId": "sms", "address": number}
    async with http.post(
        "/inbox/v2/contacts", json={"displayName": number, "identities": [identity]}, headers=auth
    ) as response:
        contact = (await response.json())["contact"]["id"]
    async with http.post(
        "/inbox/v2/conversations", json={"participantId": {"contactId": contact}}, headers=auth
    ) as response:
        conversation = (await response.json())["conversation"]["id"]
    body = {
        "conversationId": conversation,
        "message": {"content": {"basic": {"items": [{"text": "Hi"}]}}},
    }
    async with http.post("/inbox/v2/messages", json=body, headers=auth) as response:
        assert response.status == 200
