"""Crash safety: SIGKILL the daemon while messages flow in and out; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from adapters.twilio.fake import FakeTwilio
from tests.support.config import TOKEN, GatewayConfig, twilio_channel
from tests.support.daemon import Daemon
from tests.support.databases import sqlite_url

AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.slow

KILLS = 4
RECIPIENTS = ["+15550002001", "+15550002002", "+15550002003"]


async def _api(http: aiohttp.ClientSession, url: str, body: dict[str, object]) -> dict[str, object]:
    async with http.post(url, json=body, headers=AUTH) as response:
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def _conversations(base: str) -> list[str]:
    """One conversation per recipient, each with an SMS identity."""
    ids = []
    async with aiohttp.ClientSession() as http:
        for number in RECIPIENTS:
            contact = await _api(
                http,
                base + "/inbox/v2/contacts",
                {
                    "displayName": number,
                    "identities": [{"channelId": "sms", "address": number}],
                },
            )
            contact_id = contact["contact"]["id"]  # type: ignore[index]
            conversation = await _api(
                http,
                base + "/inbox/v2/conversations",
                {
                    "participantId": {"contactId": contact_id},
                },
            )
            ids.append(str(conversation["conversation"]["id"]))  # type: ignore[index]
    return ids


class Traffic:
    """Inbound webhooks and outbound API sends, recording what the daemon acknowledged."""

    def __init__(self, base: str, twilio: FakeTwilio, conversations: list[str]) -> None:
        self.base = base
        self.twilio = twilio
        self.conversations = conversations
        self.inbound_acked: dict[str, str] = {}  # MessageSid -> body
        self.outbound_acked: list[str] = []  # texts of accepted sends
        self.counter = 0

    async def inbound(self) -> None:
        while True:
            self.counter += 1
            body = f"in-{self.counter}"
            try:
                reply = await self.twilio.post_inbound(
                    self.base + "/channels/sms/inbound", f"+1555300{self.counter % 50:04d}", body
                )
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.02)
                continue
            if reply.status == 200:
                self.inbound_acked[reply.message_sid] = body

    async def outbound(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                self.counter += 1
                text = f"out-{self.counter}"
                body = {
                    "conversationId": random.choice(self.conversations),
                    "message": {"content": {"basic": {"items": [{"text": text}]}}},
                }
                try:
                    async with http.post(
                        self.base + "/inbox/v2/messages", json=body, headers=AUTH
                    ) as response:
                        if response.status == 200:
                            self.outbound_acked.append(text)
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(0.02)


async def test_killed_daemon_loses_no_acknowledged_message(tmp_path: Path) -> None:
    twilio = FakeTwilio()
    await twilio.start()
    config = GatewayConfig(
        database_url=sqlite_url(tmp_path),
        business_name=None,
        shutdown_grace=0,
        tokens={"crm": TOKEN},
        retry_delays=[0.2, 0.4, 0.8, 1, 1, 1],
        workers=4,
        channels=[twilio_channel(fake=twilio, rate_per_second=50)],
    )
    daemon = Daemon(tmp_path, config)
    base = daemon.url
    try:
        await daemon.start()
        traffic = Traffic(base, twilio, await _conversations(base))
        for _ in range(KILLS):
            tasks = [asyncio.create_task(traffic.inbound()) for _ in range(3)]
            tasks += [asyncio.create_task(traffic.outbound()) for _ in range(3)]
            await asyncio.sleep(random.uniform(0.6, 1.2))
            await daemon.kill()
            await asyncio.sleep(0.1)  # requests in flight at the kill fail now
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await daemon.start()

        expected = Counter(traffic.outbound_acked)
        deadline = asyncio.get_running_loop().time() + 60
        # every accepted send reached the provider, and the daemon recorded each result (a
        # stop in between would leave the delivery PENDING, to be sent again at the next start)
        while not all(text in _bodies(twilio) for text in expected) or _pending(tmp_path):
            assert asyncio.get_running_loop().time() < deadline, "accepted sends never went out"
            await asyncio.sleep(0.1)
        await daemon.stop()
    finally:
        await daemon.kill()
        await twilio.stop()

    sent = Counter(_bodies(twilio))
    duplicates = {text: n for text, n in sent.items() if n > 1}
    print(
        f"\n{len(traffic.inbound_acked)} inbound acknowledged, {len(expected)} outbound accepted, "
        f"{sum(sent.values())} sends seen by the provider, {len(duplicates)} sent twice "
        f"over {KILLS} kills: {sorted(duplicates)}"
    )
    assert set(expected) <= set(sent)
    # only a send in flight at a kill goes out again: one per recipient per kill at most (a
    # slow restart may find the same send in flight at the next kill too)
    assert sum(n - 1 for n in duplicates.values()) <= KILLS * len(RECIPIENTS)

    with sqlite3.connect(tmp_path / "inbox.db") as db:
        stored = {
            sid
            for (sid,) in db.execute(
                "SELECT provider_message_id FROM messages WHERE source_channel_id = 'sms'"
            )
        }
        statuses = Counter(status for (status,) in db.execute("SELECT status FROM deliveries"))
    missing = set(traffic.inbound_acked) - stored
    assert not missing, f"acknowledged inbound messages lost: {sorted(missing)[:5]}"
    assert statuses.get("PENDING", 0) == 0 and statuses.get("FAILED", 0) == 0, statuses


def _pending(folder: Path) -> int:
    """Deliveries not yet recorded as sent or failed, read beside the running daemon."""
    with sqlite3.connect(f"file:{folder / 'inbox.db'}?mode=ro", uri=True, timeout=30) as db:
        return int(
            db.execute("SELECT count(*) FROM deliveries WHERE status = 'PENDING'").fetchone()[0]
        )


def _bodies(twilio: FakeTwilio) -> list[str]:
    return [str(m.get("Body", "")) for m in twilio.sent]
