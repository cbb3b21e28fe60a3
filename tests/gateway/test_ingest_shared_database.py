"""Two gateways on one database: what one stores or merges, the other's messages respect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import ClientSession
from sqlmodel import Session, func, select

from adapters.twilio.fake import FakeTwilio
from channels import Direction
from gateway.domain.append import NewMessage, append_messages
from gateway.domain.messages import merge_conversations
from gateway.domain.participants import CONTACT, ensure_conversation
from gateway.store.models import ConversationRow, IdentityRow, MessageRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import twilio_channel

ADA, GRACE = "+15557650001", "+15557650002"


async def two_nodes(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> tuple[LiveGateway, LiveGateway]:
    channel = twilio_channel(fake=twilio)
    return await start_gateway(channel), await start_gateway(channel)


def contact_of(live: LiveGateway, address: str) -> str:
    with Session(live.gateway.db.engine) as session:
        identity = session.exec(select(IdentityRow).where(IdentityRow.address == address)).one()
        assert identity.contact_id is not None
        return identity.contact_id


def messages_by_conversation(live: LiveGateway) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with Session(live.gateway.db.engine) as session:
        for message in session.exec(select(MessageRow).order_by(MessageRow.sequence)):
            found.setdefault(message.conversation_id, []).append(
                message.content["basic"]["items"][0]["text"]
            )
    return found


async def test_a_message_after_a_merge_on_another_node_lands_in_the_merged_conversation(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    one, other = await two_nodes(start_gateway, twilio)
    url = f"{one.url}/channels/sms/inbound"
    await twilio.post_inbound(url, ADA, "first from Ada")
    await twilio.post_inbound(url, GRACE, "first from Grace")
    ada, grace = contact_of(one, ADA), contact_of(one, GRACE)
    async with ClientSession(headers=other.auth) as http:
        merged = await http.post(
            f"{other.url}/inbox/v2/contacts/{grace}/merge", json={"sourceContactIds": [ada]}
        )
        assert merged.status == 200
    reply = await twilio.post_inbound(url, ADA, "second from Ada")
    assert reply.status == 200
    with Session(one.gateway.db.engine) as session:
        live = session.exec(select(ConversationRow).where(ConversationRow.merged_into == None))  # noqa: E711
        [target] = list(live)
        assert target.participant_id == grace
    by_conversation = messages_by_conversation(one)
    assert by_conversation == {target.id: ["first from Ada", "first from Grace", "second from Ada"]}


async def test_a_message_another_node_stored_is_stored_once(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    one, other = await two_nodes(start_gateway, twilio)
    sid = "SM" + "c" * 32
    first = await twilio.post_inbound(
        f"{other.url}/channels/sms/inbound", ADA, "Once", message_sid=sid
    )
    again = await asyncio.gather(
        *(
            twilio.post_inbound(f"{one.url}/channels/sms/inbound", ADA, "Once", message_sid=sid)
            for _ in range(3)
        )
    )
    assert [first.status, *(r.status for r in again)] == [200, 200, 200, 200]
    with Session(one.gateway.db.engine) as session:
        stored = session.exec(select(func.count()).select_from(MessageRow)).one()
    assert stored == 1


async def test_many_customers_at_once_each_get_one_conversation_in_order(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """Requests that share a commit keep each customer's messages in the order sent."""
    one, other = await two_nodes(start_gateway, twilio)
    numbers = [f"+1555765{n:04d}" for n in range(12)]

    async def customer(number: str) -> None:
        for n in range(5):
            node = one if n % 2 == 0 else other
            reply = await twilio.post_inbound(f"{node.url}/channels/sms/inbound", number, f"{n}")
            assert reply.status == 200

    await asyncio.gather(*(customer(number) for number in numbers))
    by_conversation = messages_by_conversation(one)
    assert len(by_conversation) == len(numbers)
    assert all(texts == ["0", "1", "2", "3", "4"] for texts in by_conversation.values())


async def test_appending_to_a_conversation_merged_meanwhile_goes_to_its_target(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    """A writer holding an old conversation id never writes into the merged-away one."""
    one, _ = await two_nodes(start_gateway, twilio)
    with Session(one.gateway.db.engine) as session:
        old, _ = ensure_conversation(session, CONTACT, "contact-old")
        target, _ = ensure_conversation(session, CONTACT, "contact-target")
        merge_conversations(session, target, [old])
        session.commit()
        message = NewMessage(
            conversation_id=old.id,
            content={"basic": {"items": [{"text": "late"}]}},
            sender_kind=CONTACT,
            sender_id="contact-old",
            direction=Direction.PARTICIPANT_TO_BUSINESS.value,
            created_at=datetime.now(UTC),
            source_channel_id="sms",
        )
        append_messages(session, [message])
        session.commit()
        assert (message.conversation_id, message.sequence) == (target.id, 1)
        stored = session.get(MessageRow, message.id)
        assert stored is not None and stored.conversation_id == target.id
        session.refresh(target)
        assert target.last_sequence == 1 and target.last_inbound_channel_id == "sms"
