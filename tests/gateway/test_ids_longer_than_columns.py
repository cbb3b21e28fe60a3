"""Ids, addresses and payloads longer than their columns: a 400 on both databases, not a 500.

PostgreSQL refuses a value longer than its column (SQLite keeps it), so such a webhook failed
its write there: a 500 with a traceback, retried by the provider, and on Messenger the whole
batch of events with it. No provider sends ids this long; the request is refused whole.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from adapters.messenger.fake import FakeGraph, message_event, post_events, postback_event
from adapters.twilio.fake import FakeTwilio
from gateway.store.models import ContactRow, MessageRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import messenger_channel, twilio_channel


def count(live: LiveGateway, model: type) -> int:
    with Session(live.gateway.db.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize(
    ("phone", "sid"),
    [("+1" + "5" * 300, None), ("+15557654321", "SM" + "a" * 300)],
    ids=["a 302-character number", "a 302-character MessageSid"],
)
async def test_an_sms_with_an_id_longer_than_its_column_is_a_400(
    start_gateway: StartGateway, twilio: FakeTwilio, phone: str, sid: str | None
) -> None:
    live = await start_gateway(twilio_channel(fake=twilio))
    url = f"{live.url}/channels/sms/inbound"
    reply = await twilio.post_inbound(url, phone, "hi", message_sid=sid)
    assert reply.status == 400
    assert (count(live, MessageRow), count(live, ContactRow)) == (0, 0)
    # at the column's width it is stored
    reply = await twilio.post_inbound(url, "+15557654321", "hi", message_sid="SM" + "b" * 253)
    assert reply.status == 200
    assert count(live, MessageRow) == 1


async def test_a_status_callback_with_a_sid_longer_than_its_column_is_a_400(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await start_gateway(twilio_channel(fake=twilio))
    reply = await twilio.post_status(f"{live.url}/channels/sms/status", "SM" + "c" * 300, "sent")
    assert reply.status == 400


async def test_a_messenger_batch_with_an_overlong_payload_or_mid_is_a_400(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    live = await start_gateway(messenger_channel("facebook", fake=graph))
    url = f"{live.url}/channels/facebook/webhook"
    for event in (
        postback_event("psid-1", "Track", "P" * 1001),
        message_event("psid-1", "hi", mid="m." + "x" * 300),
        message_event("p" * 256, "hi"),
    ):
        status, _ = await post_events(
            url, "fake-app-secret", [message_event("psid-2", "ok"), event]
        )
        assert status == 400
    assert count(live, MessageRow) == 0
    status, _ = await post_events(
        url, "fake-app-secret", [postback_event("psid-1", "Track", "P" * 1000)]
    )
    assert status == 200
    assert count(live, MessageRow) == 1
