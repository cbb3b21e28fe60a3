"""A storm of Twilio status callbacks, all at once and in any order, as after a campaign."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

from adapters.twilio.fake import FakeTwilio
from tests.e2e.conftest import CUSTOMER_PHONE, Api


def text(value: str) -> dict[str, Any]:
    return {"basic": {"items": [{"text": value}]}}


async def test_callbacks_arriving_together_in_any_order_only_move_statuses_forward(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    inbound = f"{sms_api.live.url}/channels/sms/inbound"
    assert (await twilio.post_inbound(inbound, CUSTOMER_PHONE, "Hi")).status == 200
    conversation = await sms_api.only_conversation()
    short = await sms_api.send_ok(conversation["id"], text("Your order shipped"))
    long = await sms_api.send_ok(conversation["id"], text(" ".join(["word"] * 700)))
    await sms_api.delivery_status(short["id"], "SENT")
    await sms_api.delivery_status(long["id"], "SENT")
    [short_sid] = [s["sid"] for s in twilio.sent if s["Body"] == "Your order shipped"]
    long_sids = [s["sid"] for s in twilio.sent if s["sid"] != short_sid]
    assert len(long_sids) == 3
    # Every part: sent, delivered (twice, as a retried callback) and read; the short one too.
    storm = [
        (sid, status)
        for sid in [short_sid, *long_sids]
        for status in ("sent", "delivered", "delivered", "read", "queued")
    ]
    random.Random(5).shuffle(storm)
    status_url = f"{sms_api.live.url}/channels/sms/status"
    replies = await asyncio.gather(
        *(twilio.post_status(status_url, sid, status) for sid, status in storm)
    )
    assert {r.status for r in replies} == {200}
    assert (await sms_api.message(short["id"]))["delivery"]["status"] == "READ"
    assert (await sms_api.message(long["id"]))["delivery"]["status"] == "READ"
    rank = {"SENT": 1, "DELIVERED": 2, "READ": 3}
    for message in (short, long):
        updates = [
            e["delivery"]["status"]
            for e in await sms_api.events("message_delivery_updated")
            if e["messageId"] == message["id"]
        ]
        assert updates[0] == "SENT" and updates[-1] == "READ"
        assert all(rank[a] < rank[b] for a, b in itertools.pairwise(updates))
