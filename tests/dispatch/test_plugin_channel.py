"""End to end through the REST API to a third-party plug-in channel (the `echo` example)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.dispatch.harness import Running, running
from tests.support.config import channel
from tests.support.polling import eventually

echo_adapter = pytest.importorskip("echo_adapter")
TOKEN = "dispatch-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHANNEL = channel("mail", "echo", outbox_label="mail")


async def call(run: Running, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, run.url + path, json=body, headers=AUTH) as response,
    ):
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def test_a_message_sent_through_the_api_reaches_a_plugin_channel(tmp_path: Path) -> None:
    echo_adapter.EchoAdapter.sent.clear()
    async with running(
        tmp_path / "db.sqlite",
        CHANNEL,
        tokens={"crm": TOKEN},
        adapters={"echo": echo_adapter.EchoAdapter},
    ) as run:
        contact = (
            await call(
                run,
                "POST",
                "/inbox/v2/contacts",
                {
                    "displayName": "Ann",
                    "identities": [{"channelId": "mail", "address": "ann@x"}],
                },
            )
        )["contact"]
        conversation = (
            await call(
                run,
                "POST",
                "/inbox/v2/conversations",
                {
                    "participantId": {"contactId": contact["id"]},
                },
            )
        )["conversation"]
        text = "A reply long enough to need two parts on this channel, which has a small limit."
        sent = (
            await call(
                run,
                "POST",
                "/inbox/v2/messages",
                {
                    "conversationId": conversation["id"],
                    "message": {"content": {"basic": {"items": [{"text": text}]}}},
                },
            )
        )["message"]
        assert sent["delivery"]["status"] == "PENDING"

        async def delivered() -> bool:
            message = (await call(run, "GET", f"/inbox/v2/messages/{sent['id']}"))["message"]
            return bool(message["delivery"]["status"] == "SENT")

        await eventually(delivered)
        parts = [p for p in echo_adapter.EchoAdapter.sent if p.message_id == sent["id"]]
        assert len(parts) == 2
        assert " ".join(p.part.text for p in parts).split() == text.split()
        assert {p.recipient for p in parts} == {"ann@x"}
