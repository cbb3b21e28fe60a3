"""Two nodes, one outgoing-webhook subscriber: each event reaches it once, and each
conversation's events in the order they happened, whichever node stored them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from adapters.twilio.fake import FakeTwilio
from tests.support import Daemon, GatewayConfig, eventually, fresh_postgres, twilio_channel
from tests.webhooks.subscriber import subscriber

CUSTOMERS = ["+15550008001", "+15550008002", "+15550008003", "+15550008004"]
#: messages each customer sends, one after the other, alternately through each node
EACH = 6


async def test_each_event_reaches_the_subscriber_once_and_in_order(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with subscriber() as hook:
        with fresh_postgres(postgres_url) as url:
            config = GatewayConfig(
                database_url=url,
                channels=[twilio_channel(fake=twilio)],
                webhooks=[hook.webhook(["message_sent_to_business"])],
            )
            nodes = [Daemon(tmp_path, config, name=f"node-{n}") for n in "ab"]
            for node in nodes:
                await node.start()
            try:

                async def customer(number: str) -> None:
                    for n in range(EACH):
                        node = nodes[n % len(nodes)]
                        url = f"{node.url}/channels/sms/inbound"
                        answer = await twilio.post_inbound(url, number, f"{number} #{n}")
                        assert answer.status == 200

                await asyncio.gather(*(customer(number) for number in CUSTOMERS))
                total = len(CUSTOMERS) * EACH
                await eventually(lambda: len(hook.received) >= total, timeout=30)
                await asyncio.sleep(2.0)  # a POST sent twice would arrive meanwhile
            finally:
                for node in nodes:
                    await node.stop()
    posted = Counter(r.body["id"] for r in hook.received)
    assert [event for event, times in posted.items() if times > 1] == []
    texts = [
        r.body["actionEvent"]["body"]["message"]["content"]["basic"]["items"][0]["text"]
        for r in hook.received
    ]
    for number in CUSTOMERS:
        assert [t for t in texts if t.startswith(number)] == [f"{number} #{n}" for n in range(EACH)]
