"""The database goes away under a running daemon and comes back: the daemon says it is not
ready meanwhile, keeps the provider webhooks it cannot store on disk, then carries on by
itself: what it accepted goes out once, and what it kept is stored once, in order."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.twilio.fake import FakeTwilio
from tests.support.config import TOKEN, GatewayConfig, twilio_channel
from tests.support.daemon import Daemon
from tests.support.pgserver import own_postgres
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "+15550004444"


def _texts(bodies: list[dict[str, Any]]) -> list[str]:
    return [
        b["actionEvent"]["body"]["message"]["content"]["basic"]["items"][0]["text"] for b in bodies
    ]


async def test_the_daemon_is_unready_while_the_database_is_away_then_resumes_alone(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with subscriber() as sub:
        with own_postgres() as server:
            config = GatewayConfig(
                database_url=server.url,
                tokens={"crm": TOKEN},
                retry_delays=[1, 1, 1, 1, 1, 1, 1, 1],
                channels=[twilio_channel(fake=twilio, rate_per_second=50)],
                webhooks=[sub.webhook(["message_sent_to_business"])],
            )
            daemon = Daemon(tmp_path, config)
            inbound = daemon.url + "/channels/sms/inbound"
            await daemon.start()
            try:
                async with aiohttp.ClientSession() as http:

                    async def ready() -> int:
                        async with http.get(daemon.url + "/readyz") as response:
                            return response.status

                    async def send(text: str) -> None:
                        body = {
                            "conversationId": conversation,
                            "message": {"content": {"basic": {"items": [{"text": text}]}}},
                        }
                        async with http.post(
                            daemon.url + "/inbox/v2/messages", json=body, headers=AUTH
                        ) as response:
                            assert response.status == 200, await response.text()

                    assert (await twilio.post_inbound(inbound, CUSTOMER, "hello")).status == 200
                    async with http.get(
                        daemon.url + "/inbox/v2/conversations", headers=AUTH
                    ) as response:
                        [listed] = (await response.json())["conversations"]
                    conversation = listed["id"]

                    # a reply the provider refuses once: its retry falls due while the
                    # database is away
                    twilio.fail_next(status=503)
                    await send("before the outage")
                    await eventually(lambda: len(twilio.requests) == 1)

                    server.stop()
                    await eventually(lambda: _is(ready(), 503), 30)
                    # the REST API asks for a retry rather than failing with 500
                    async with http.get(
                        daemon.url + "/inbox/v2/conversations", headers=AUTH
                    ) as response:
                        assert response.status == 503
                        assert "Retry-After" in response.headers
                    # an SMS is kept on disk and acknowledged, as is Twilio's retry of it
                    first = await twilio.post_inbound(inbound, CUSTOMER, "while away")
                    assert first.status == 200
                    retried = await twilio.post_inbound(
                        inbound, CUSTOMER, "while away", message_sid=first.message_sid
                    )
                    assert retried.status == 200
                    second = await twilio.post_inbound(inbound, CUSTOMER, "still away")
                    assert second.status == 200
                    await asyncio.sleep(2)  # the send's retry falls due meanwhile

                    server.start()
                    await eventually(lambda: _is(ready(), 200), 30)
                    await send("after the outage")
                    back = await twilio.post_inbound(inbound, CUSTOMER, "back again")
                    assert back.status == 200

                    def both_sent() -> bool:
                        bodies = [m["Body"] for m in twilio.sent]
                        return {"before the outage", "after the outage"} <= set(bodies)

                    await eventually(both_sent, 30)
                    await eventually(lambda: len(sub.accepted) == 4, 30)
                assert await daemon.stop() == 0
            finally:
                await daemon.kill()
        sent = Counter(m["Body"] for m in twilio.sent)
        assert sent == {"before the outage": 1, "after the outage": 1}
        assert _texts(sub.accepted) == ["hello", "while away", "still away", "back again"]
        # an outage is warnings the operator can read, not a stream of ERROR tracebacks
        errors = [
            line for line in daemon.log.read_text().splitlines() if '"level": "error"' in line
        ]
        assert errors == []


async def _is(status: Any, expected: int) -> bool:
    try:
        return bool(await status == expected)
    except aiohttp.ClientError:
        return False
