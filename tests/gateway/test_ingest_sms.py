"""Inbound SMS through the real gateway: stored once, on disk before Twilio gets its answer."""

from __future__ import annotations

from aiohttp import ClientSession
from sqlmodel import Session, func, select

from adapters.twilio.fake import FakeTwilio
from gateway.store.models import ContactRow, EventRow, IdentityRow, MessageRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import twilio_channel


async def sms_gateway(start_gateway: StartGateway, twilio: FakeTwilio) -> LiveGateway:
    return await start_gateway(twilio_channel(fake=twilio))


def count(live: LiveGateway, model: type) -> int:
    with Session(live.gateway.db.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


async def test_an_inbound_sms_is_stored_with_its_contact(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await sms_gateway(start_gateway, twilio)
    reply = await twilio.post_inbound(f"{live.url}/channels/sms/inbound", "+15557654321", "Hi!")
    assert reply.status == 200
    assert reply.content_type == "text/xml"
    with Session(live.gateway.db.engine) as session:
        identity = session.exec(select(IdentityRow)).one()
        assert (identity.channel_id, identity.address) == ("sms", "+15557654321")
        contact = session.get(ContactRow, identity.contact_id)
        assert contact is not None and "555" in contact.display_name
        message = session.exec(select(MessageRow)).one()
        assert message.content["basic"]["items"] == [{"text": "Hi!"}]
        assert message.provider_message_id == reply.message_sid
        slugs = [e.slug for e in session.exec(select(EventRow))]
        assert slugs == ["message_sent_to_business"]


async def test_the_same_message_sid_twice_is_stored_once(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await sms_gateway(start_gateway, twilio)
    url = f"{live.url}/channels/sms/inbound"
    first = await twilio.post_inbound(url, "+15557654321", "Once", message_sid="SM" + "a" * 32)
    second = await twilio.post_inbound(url, "+15557654321", "Once", message_sid="SM" + "a" * 32)
    assert (first.status, second.status) == (200, 200)
    assert count(live, MessageRow) == 1
    assert count(live, EventRow) == 1


async def test_a_forged_webhook_stores_nothing(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await sms_gateway(start_gateway, twilio)
    async with ClientSession() as http:
        response = await http.post(
            f"{live.url}/channels/sms/inbound",
            data={"From": "+15557654321", "Body": "hi", "MessageSid": "SM" + "b" * 32},
            headers={"X-Twilio-Signature": "forged"},
        )
        assert response.status == 403
    assert count(live, MessageRow) == 0
    assert count(live, ContactRow) == 0


async def test_stop_opts_the_contact_out_and_tells_the_agents(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await sms_gateway(start_gateway, twilio)
    url = f"{live.url}/channels/sms/inbound"
    await twilio.post_inbound(url, "+15557654321", "STOP")
    with Session(live.gateway.db.engine) as session:
        identity = session.exec(select(IdentityRow)).one()
        assert identity.opted_out
        messages = list(session.exec(select(MessageRow).order_by(MessageRow.sequence)))
        assert messages[0].content["basic"]["items"] == [{"text": "STOP"}]
        note = messages[1]
        assert note.visibility == "BUSINESS" and "opted out" in note.content["system"]["text"]
    await twilio.post_inbound(url, "+15557654321", "start")
    with Session(live.gateway.db.engine) as session:
        assert not session.exec(select(IdentityRow)).one().opted_out


async def test_a_late_retry_of_stop_does_not_opt_out_a_customer_who_said_start(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """Twilio retries a webhook it got no answer to, possibly after the customer's next one."""
    live = await sms_gateway(start_gateway, twilio)
    url = f"{live.url}/channels/sms/inbound"
    stop_sid = "SM" + "6" * 32
    await twilio.post_inbound(url, "+15557654321", "STOP", message_sid=stop_sid)
    await twilio.post_inbound(url, "+15557654321", "START")
    messages = count(live, MessageRow)
    retry = await twilio.post_inbound(url, "+15557654321", "STOP", message_sid=stop_sid)
    assert retry.status == 200
    with Session(live.gateway.db.engine) as session:
        assert not session.exec(select(IdentityRow)).one().opted_out
    assert count(live, MessageRow) == messages, "neither the message nor a note again"


async def test_an_oversize_webhook_is_refused_with_413(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await sms_gateway(start_gateway, twilio)
    async with ClientSession() as http:
        response = await http.post(f"{live.url}/channels/sms/inbound", data={"Body": "x" * 70_000})
        assert response.status == 413
        body = await response.json()
        assert body["details"]["applicationError"]["code"] == "PAYLOAD_TOO_LARGE"
    assert count(live, MessageRow) == 0


async def test_a_customer_may_type_a_backslash_u_0000(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """Only a real NUL character is refused; the six characters \\u0000 are just text."""
    live = await sms_gateway(start_gateway, twilio)
    url = f"{live.url}/channels/sms/inbound"
    reply = await twilio.post_inbound(url, "+15557654321", "my code prints \\u0000")
    assert reply.status == 200
    with Session(live.gateway.db.engine) as session:
        [message] = session.exec(select(MessageRow))
        assert message.content["basic"]["items"] == [{"text": "my code prints \\u0000"}]
